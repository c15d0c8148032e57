// A c-toxcore 0.2.18 TCP relay for the CLI relay tests: one Tox instance with a TCP port under
// the test policy of tox_policy.hpp (UDP on loopback only, LAN discovery off, no bootstrap), so
// it talks to nobody but the clients that connect to it. Its relay key is its DHT key.
//
// Usage: tox_relay --port N [--max-seconds S]
// Prints {"event":"ready","relay_key":HEX,"tcp_port":N} on stdout, iterates until SIGTERM/SIGINT
// or --max-seconds (stdin is not read), then prints {"event":"exit",...} with the loopback guard's
// count of refused non-loopback sends (it must stay 0).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <tox/tox.h>

#include "loopback_guard.hpp"
#include "tox_policy.hpp"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop = true; }

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(kDigits[p[i] >> 4U]);
        s.push_back(kDigits[p[i] & 15U]);
    }
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    long port = 0;
    long max_seconds = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--port") == 0) port = std::strtol(argv[i + 1], nullptr, 10);
        if (std::strcmp(argv[i], "--max-seconds") == 0)
            max_seconds = std::strtol(argv[i + 1], nullptr, 10);
    }
    if (port <= 0 || port > 65535 || max_seconds <= 0 || max_seconds > 3600) {
        std::printf(
            "{\"event\":\"error\",\"what\":\"usage: tox_relay --port N [--max-seconds S]\"}\n");
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    auto opts = netcrypto::testing::loopback_tox_options();
    if (!opts) return 1;
    tox_options_set_tcp_port(opts.get(), static_cast<std::uint16_t>(port));
    Tox_Err_New err = TOX_ERR_NEW_OK;
    netcrypto::testing::ToxPtr tox(tox_new(opts.get(), &err));
    if (!tox) {
        std::printf("{\"event\":\"error\",\"what\":\"tox_new\",\"err\":%d}\n",
                    static_cast<int>(err));
        return 1;
    }
    std::uint8_t key[TOX_PUBLIC_KEY_SIZE];
    tox_self_get_dht_id(tox.get(), key);
    std::printf("{\"event\":\"ready\",\"relay_key\":\"%s\",\"tcp_port\":%ld}\n",
                hex(key, sizeof(key)).c_str(), port);
    std::fflush(stdout);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
    const char* reason = "max_seconds";
    while (std::chrono::steady_clock::now() < deadline) {
        if (g_stop) {
            reason = "signal";
            break;
        }
        tox_iterate(tox.get(), nullptr);
        std::this_thread::sleep_for(std::chrono::milliseconds(tox_iteration_interval(tox.get())));
    }
    tox.reset();
    std::printf("{\"event\":\"exit\",\"reason\":\"%s\",\"nonloopback_sends\":%llu}\n", reason,
                static_cast<unsigned long long>(netcrypto::testing::loopback_guard::refused()));
    return 0;
}
