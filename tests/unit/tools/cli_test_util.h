// Helpers for the tools tests: the exit code and message of a CliError.
#pragma once

#include <string>
#include <utility>

#include "tools/cli_error.h"

namespace strongroom::testing {

struct CliOutcome {
  int code = 0;  // 0: no CliError was thrown
  std::string message;
};

template <typename F>
CliOutcome OutcomeOf(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const tools::CliError& e) {
    return {e.code(), e.what()};
  }
  return {};
}

}  // namespace strongroom::testing
