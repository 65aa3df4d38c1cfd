// Status and Result<T>: how every relate call reports failure.
//
// Status is cheap when OK (no allocation) and carries a code and a message
// otherwise. Result<T> holds a T or a non-OK Status; its accessors match
// std::expected (has_value, value, error, operator*, operator->), so code
// can move to std::expected when the toolchain has it.
#pragma once

#include <cassert>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace relate {

class [[nodiscard]] Status {
 public:
  // Codes are named like abseil's. Each maps to one CLI exit code.
  enum class Code {
    kOk = 0,
    kInvalidArgument,     // bad input from the caller: wrong dimension, NaN, bad JSON ...
    kNotFound,            // no such database, collection or key
    kAlreadyExists,       // creating something that exists
    kFailedPrecondition,  // the database is not in the state the call needs
    kBusy,                // the database is in use by another process or handle
    kCorruption,          // stored data failed a check
    kIOError,             // the file system or storage engine failed
    kInternal,            // a bug: please report it
    kCancelled,           // the caller asked the call to stop; what it did is kept (a checkpoint)
  };

  Status() = default;
  Status(Code code, std::string_view message)
      : state_(code == Code::kOk
                   ? nullptr
                   : std::make_shared<const State>(State{code, std::string(message)})) {}

  static Status OK() { return {}; }
  static Status InvalidArgument(std::string_view m) { return {Code::kInvalidArgument, m}; }
  static Status NotFound(std::string_view m) { return {Code::kNotFound, m}; }
  static Status AlreadyExists(std::string_view m) { return {Code::kAlreadyExists, m}; }
  static Status FailedPrecondition(std::string_view m) { return {Code::kFailedPrecondition, m}; }
  static Status Busy(std::string_view m) { return {Code::kBusy, m}; }
  static Status Corruption(std::string_view m) { return {Code::kCorruption, m}; }
  static Status IOError(std::string_view m) { return {Code::kIOError, m}; }
  static Status Internal(std::string_view m) { return {Code::kInternal, m}; }
  static Status Cancelled(std::string_view m) { return {Code::kCancelled, m}; }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // The message without the code name; empty when OK.
  std::string_view message() const { return state_ ? std::string_view(state_->message) : ""; }
  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;

  // Returns a status with the same code whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

 private:
  struct State {
    Code code;
    std::string message;
  };
  std::shared_ptr<const State> state_;  // null when OK; immutable, so copies share it
};

// The name of a code, e.g. "InvalidArgument".
inline std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kAlreadyExists:
      return "AlreadyExists";
    case Status::Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Status::Code::kBusy:
      return "Busy";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kInternal:
      return "Internal";
    case Status::Code::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code()));
  s += ": ";
  s += message();
  return s;
}

inline Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message();
  return Status(code(), m);
}

inline std::ostream& operator<<(std::ostream& os, Status::Code code) {
  return os << CodeName(code);
}
inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

// Holds a value or an error Status, like std::expected<T, Status>.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; OK when a value is held.
  Status error() const { return has_value() ? Status::OK() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace relate

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define RELATE_RETURN_IF_ERROR(expr)       \
  do {                                     \
    ::relate::Status _relate_s = (expr);   \
    if (!_relate_s.ok()) return _relate_s; \
  } while (0)

#define RELATE_CONCAT_INNER(a, b) a##b
#define RELATE_CONCAT(a, b) RELATE_CONCAT_INNER(a, b)
#define RELATE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.has_value()) return tmp.error();          \
  lhs = std::move(tmp).value()
// `lhs = value of expr`, or returns its error from the enclosing function.
#define RELATE_ASSIGN_OR_RETURN(lhs, expr) \
  RELATE_ASSIGN_OR_RETURN_IMPL(RELATE_CONCAT(_relate_r, __LINE__), lhs, expr)
