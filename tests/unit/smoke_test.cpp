#include <gtest/gtest.h>

#include "core/crypto/crypto.hpp"

TEST(Smoke, SodiumIsReady) { EXPECT_TRUE(netcrypto::crypto::ready()); }
