#include <catch2/catch.hpp>

#include "crypto/content.h"

TEST_CASE("placeholder") { REQUIRE(strongroom::crypto::CipherSize(0) == strongroom::crypto::kHeaderSize); }
