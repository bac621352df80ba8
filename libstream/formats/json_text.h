// JSON text helpers over nlohmann::json, for metadata values and --json output.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mln::formats {

/// `s` as a quoted JSON string; bytes that are not valid UTF-8 become U+FFFD.
inline std::string JsonString(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
}

}  // namespace mln::formats
