// UTF-8 validation, written once: what relate accepts as text (keys, names,
// words, metadata strings) is well-formed UTF-8 as Unicode defines it.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace relate::util {

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at s[i],
// or 0 if the bytes there are not one: a stray continuation byte, a sequence
// cut short, an overlong form, a surrogate (U+D800..U+DFFF) or a code point
// past U+10FFFF. Needs i < s.size().
size_t Utf8SequenceAt(std::string_view s, size_t i);

// The offset of the first byte of `s` that is not part of well-formed UTF-8,
// or nullopt if all of `s` is.
std::optional<size_t> InvalidUtf8At(std::string_view s);

}  // namespace relate::util
