// Quoting a string for a message, written once: whatever bytes a user's key,
// name or file holds, the message stays one readable line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace relate::util {

// `s` in double quotes, with control bytes, DEL, quotes, backslashes and bytes
// that are not part of well-formed UTF-8 shown as \xNN (well-formed non-ASCII
// text is kept as it is). At most `max_bytes` of `s` are shown, whole UTF-8
// sequences only; a cut string ends in `..."`.
std::string Quote(std::string_view s, size_t max_bytes = std::string_view::npos);

}  // namespace relate::util
