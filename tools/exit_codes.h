// The strongroom command's exit codes (documented in README.md).
#pragma once

namespace strongroom::tools {

enum ExitCode : int {
  kOk = 0,
  kInternal = 1,         // internal error
  kUsage = 2,            // bad arguments
  kWrongPassphrase = 3,  // the passphrase does not open the vault
  kRefused = 4,          // refused by policy or permissions
  kNotFound = 5,         // vault, mountpoint or path not found
  kNotMounted = 6,       // nothing is mounted there
  kIntegrity = 7,        // corrupt or tampered config, store or ciphertext
  kConflict = 8,         // exists, not empty, already mounted, busy
  kIncomplete = 9,       // import finished, but something was skipped or failed
};

}  // namespace strongroom::tools
