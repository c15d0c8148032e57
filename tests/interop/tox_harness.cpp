// SPDX-License-Identifier: MIT
//
// tox_harness: drives ONE unmodified c-toxcore instance (public tox.h API only) for interop tests
// of the netcrypto implementation. Commands arrive as lines on stdin, events leave as one JSON
// object per line on stdout. See tests/interop/README.md for the full protocol.
//
// Safety: c-toxcore binds 0.0.0.0, so this executable links the loopback guard
// (tests/support/loopback_guard.hpp): sendto/sendmsg/connect to any IPv4/IPv6 destination that
// is not loopback are refused (EPERM) before any real system call.

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <dlfcn.h>
#include <fcntl.h>
#include <fstream>
#include <ifaddrs.h>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <net/if.h>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <set>
#include <signal.h>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include <sodium.h>
#include <tox/tox.h>

#include "loopback_guard.hpp"
#include "tox_policy.hpp"

// ---------------------------------------------------------------------------------------------
// Loopback guard (tests/support/loopback_guard.hpp): this executable records what it refused
// and counts the sendto calls that libtoxcore made.
// ---------------------------------------------------------------------------------------------

namespace guard {

using netcrypto::testing::loopback_guard::destination_allowed;

std::atomic<uint64_t> g_allowed_sendto{0};               // sendto calls forwarded to libc
std::atomic<uint64_t> g_allowed_sendto_from_toxcore{0};  // ... whose caller was libtoxcore

std::mutex g_mutex;
std::set<std::string> g_refused_destinations;  // "kind addr:port <- caller", bounded
constexpr size_t kMaxRecordedDestinations = 32;

// Refusals split by destination: IPv4 broadcast addresses (255.255.255.255 and the broadcast
// address of any local interface, which is where c-toxcore's LAN discovery goes) and anything
// else. With --local-discovery, every refusal is expected to be a broadcast one.
std::atomic<uint64_t> g_refused_broadcast{0};
std::atomic<uint64_t> g_refused_other{0};
std::set<uint32_t> g_broadcast_addresses;  // host byte order; filled once before tox_new

void collect_broadcast_addresses() {
    g_broadcast_addresses.insert(0xffffffffU);
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return;
    }
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if ((i->ifa_flags & IFF_BROADCAST) == 0 || i->ifa_broadaddr == nullptr ||
            i->ifa_addr == nullptr || i->ifa_netmask == nullptr ||
            i->ifa_broadaddr->sa_family != AF_INET || i->ifa_addr->sa_family != AF_INET) {
            continue;
        }
        sockaddr_in b{};
        sockaddr_in a{};
        sockaddr_in m{};
        std::memcpy(&b, i->ifa_broadaddr, sizeof(b));
        std::memcpy(&a, i->ifa_addr, sizeof(a));
        std::memcpy(&m, i->ifa_netmask, sizeof(m));
        const uint32_t bcast = ntohl(b.sin_addr.s_addr);
        const uint32_t mask = ntohl(m.sin_addr.s_addr);
        // Only a real subnet broadcast (host part all ones), never an interface's own address.
        if (mask != 0xffffffffU && bcast == (ntohl(a.sin_addr.s_addr) | ~mask)) {
            g_broadcast_addresses.insert(bcast);
        }
    }
    freeifaddrs(list);
}

bool is_broadcast_destination(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr || sa->sa_family != AF_INET ||
        len < static_cast<socklen_t>(sizeof(sockaddr_in))) {
        return false;
    }
    sockaddr_in sin{};
    std::memcpy(&sin, sa, sizeof(sin));
    return g_broadcast_addresses.contains(ntohl(sin.sin_addr.s_addr));
}

uint64_t refused() { return netcrypto::testing::loopback_guard::refused(); }

std::string caller_name(const void* ret_addr) {
    Dl_info info{};
    if (dladdr(ret_addr, &info) != 0 && info.dli_fname != nullptr) {
        std::string_view name = info.dli_fname;
        const size_t slash = name.rfind('/');
        if (slash != std::string_view::npos) {
            name.remove_prefix(slash + 1);
        }
        return std::string(name);
    }
    return "?";
}

bool caller_is_toxcore(const void* ret_addr) {
    // Single-entry cache: toxcore sends all UDP through one call site.
    static thread_local const void* last_addr = nullptr;
    static thread_local bool last_result = false;
    if (ret_addr != last_addr) {
        last_result = caller_name(ret_addr).find("toxcore") != std::string::npos;
        last_addr = ret_addr;
    }
    return last_result;
}

void record_refusal(const char* kind, const sockaddr* sa, socklen_t len, const void* ret_addr) {
    const uint64_t n = refused();
    (is_broadcast_destination(sa, len) ? g_refused_broadcast : g_refused_other).fetch_add(1);
    const std::string entry = std::string(kind) + " " +
                              netcrypto::testing::loopback_guard::describe(sa, len) + " <- " +
                              caller_name(ret_addr);
    bool is_new = false;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_refused_destinations.size() < kMaxRecordedDestinations) {
            is_new = g_refused_destinations.insert(entry).second;
        }
    }
    if (is_new || n <= 5) {
        std::fprintf(stderr, "tox_harness: loopback guard REFUSED %s (refusal #%llu)\n",
                     entry.c_str(), static_cast<unsigned long long>(n));
    }
}

void count_sendto(const void* /*buf*/, size_t /*n*/, const sockaddr* /*sa*/, socklen_t /*len*/,
                  const void* ret_addr) {
    g_allowed_sendto.fetch_add(1);
    if (caller_is_toxcore(ret_addr)) {
        g_allowed_sendto_from_toxcore.fetch_add(1);
    }
}

// Installed before main() runs, so that no send escapes the bookkeeping.
const bool g_hooks_installed = [] {
    netcrypto::testing::loopback_guard::set_hooks(&record_refusal, &count_sendto);
    return true;
}();

}  // namespace guard

// ---------------------------------------------------------------------------------------------
// Helpers: time, hex, JSON output.
// ---------------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point g_start = Clock::now();

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - g_start).count();
}

volatile sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

std::string to_hex(const uint8_t* data, size_t len) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.resize(len * 2);
    for (size_t i = 0; i < len; ++i) {
        out[2 * i] = kDigits[data[i] >> 4];
        out[2 * i + 1] = kDigits[data[i] & 0x0f];
    }
    return out;
}

std::string to_hex(const std::vector<uint8_t>& v) { return to_hex(v.data(), v.size()); }

// Tox IDs are shown upper-case by Tox clients (and tox_self_get_address users).
std::string to_upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'f') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return s;
}

int hex_nibble(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::optional<std::vector<uint8_t>> from_hex(std::string_view s) {
    if (s.size() % 2 != 0) {
        return std::nullopt;
    }
    std::vector<uint8_t> out(s.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_nibble(s[2 * i]);
        const int lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out[i] = static_cast<uint8_t>((hi << 4) | lo);
    }
    return out;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20) {
        return std::nullopt;
    }
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto digit = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) {
            return std::nullopt;
        }
        v = v * 10 + digit;
    }
    return v;
}

std::optional<uint32_t> parse_u32(std::string_view s) {
    const auto v = parse_u64(s);
    if (!v || *v > UINT32_MAX) {
        return std::nullopt;
    }
    return static_cast<uint32_t>(*v);
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

// Minimal hand-written JSON object builder (flat; nested values passed as raw JSON).
class Json {
  public:
    explicit Json(std::string_view event) { str("event", event); }
    Json& str(std::string_view key, std::string_view value) {
        sep(key);
        body_ += '"';
        body_ += json_escape(value);
        body_ += '"';
        return *this;
    }
    Json& num(std::string_view key, int64_t value) {
        sep(key);
        body_ += std::to_string(value);
        return *this;
    }
    Json& unum(std::string_view key, uint64_t value) {
        sep(key);
        body_ += std::to_string(value);
        return *this;
    }
    Json& boolean(std::string_view key, bool value) {
        sep(key);
        body_ += value ? "true" : "false";
        return *this;
    }
    Json& raw(std::string_view key, std::string_view json) {
        sep(key);
        body_ += json;
        return *this;
    }
    Json& t() { return num("t_ms", now_ms()); }
    void emit() const {
        const std::string line = "{" + body_ + "}\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fflush(stdout);
    }

  private:
    void sep(std::string_view key) {
        if (!body_.empty()) {
            body_ += ',';
        }
        body_ += '"';
        body_ += json_escape(key);
        body_ += "\":";
    }
    std::string body_;
};

void emit_error(std::string_view what) { Json("error").str("what", what).t().emit(); }

void emit_error_code(std::string_view what, int code, std::string_view name) {
    Json("error").str("what", what).num("err", code).str("err_name", name).t().emit();
}

// ---------------------------------------------------------------------------------------------
// Error-code names.
// ---------------------------------------------------------------------------------------------

const char* name_of(Tox_Err_New e) {
    switch (e) {
        case TOX_ERR_NEW_OK:
            return "TOX_ERR_NEW_OK";
        case TOX_ERR_NEW_NULL:
            return "TOX_ERR_NEW_NULL";
        case TOX_ERR_NEW_MALLOC:
            return "TOX_ERR_NEW_MALLOC";
        case TOX_ERR_NEW_PORT_ALLOC:
            return "TOX_ERR_NEW_PORT_ALLOC";
        case TOX_ERR_NEW_PROXY_BAD_TYPE:
            return "TOX_ERR_NEW_PROXY_BAD_TYPE";
        case TOX_ERR_NEW_PROXY_BAD_HOST:
            return "TOX_ERR_NEW_PROXY_BAD_HOST";
        case TOX_ERR_NEW_PROXY_BAD_PORT:
            return "TOX_ERR_NEW_PROXY_BAD_PORT";
        case TOX_ERR_NEW_PROXY_NOT_FOUND:
            return "TOX_ERR_NEW_PROXY_NOT_FOUND";
        case TOX_ERR_NEW_LOAD_ENCRYPTED:
            return "TOX_ERR_NEW_LOAD_ENCRYPTED";
        case TOX_ERR_NEW_LOAD_BAD_FORMAT:
            return "TOX_ERR_NEW_LOAD_BAD_FORMAT";
    }
    return "TOX_ERR_NEW_?";
}

const char* name_of(Tox_Err_Friend_Send_Message e) {
    switch (e) {
        case TOX_ERR_FRIEND_SEND_MESSAGE_OK:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_OK";
        case TOX_ERR_FRIEND_SEND_MESSAGE_NULL:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_NULL";
        case TOX_ERR_FRIEND_SEND_MESSAGE_FRIEND_NOT_FOUND:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_FRIEND_NOT_FOUND";
        case TOX_ERR_FRIEND_SEND_MESSAGE_FRIEND_NOT_CONNECTED:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_FRIEND_NOT_CONNECTED";
        case TOX_ERR_FRIEND_SEND_MESSAGE_SENDQ:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_SENDQ";
        case TOX_ERR_FRIEND_SEND_MESSAGE_TOO_LONG:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_TOO_LONG";
        case TOX_ERR_FRIEND_SEND_MESSAGE_EMPTY:
            return "TOX_ERR_FRIEND_SEND_MESSAGE_EMPTY";
    }
    return "TOX_ERR_FRIEND_SEND_MESSAGE_?";
}

const char* name_of(Tox_Err_Friend_Custom_Packet e) {
    switch (e) {
        case TOX_ERR_FRIEND_CUSTOM_PACKET_OK:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_OK";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_NULL:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_NULL";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_FOUND:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_FOUND";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_CONNECTED:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_CONNECTED";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_INVALID:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_INVALID";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_EMPTY:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_EMPTY";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_TOO_LONG:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_TOO_LONG";
        case TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ:
            return "TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ";
    }
    return "TOX_ERR_FRIEND_CUSTOM_PACKET_?";
}

const char* name_of(Tox_Err_Friend_Add e) {
    switch (e) {
        case TOX_ERR_FRIEND_ADD_OK:
            return "TOX_ERR_FRIEND_ADD_OK";
        case TOX_ERR_FRIEND_ADD_NULL:
            return "TOX_ERR_FRIEND_ADD_NULL";
        case TOX_ERR_FRIEND_ADD_TOO_LONG:
            return "TOX_ERR_FRIEND_ADD_TOO_LONG";
        case TOX_ERR_FRIEND_ADD_NO_MESSAGE:
            return "TOX_ERR_FRIEND_ADD_NO_MESSAGE";
        case TOX_ERR_FRIEND_ADD_OWN_KEY:
            return "TOX_ERR_FRIEND_ADD_OWN_KEY";
        case TOX_ERR_FRIEND_ADD_ALREADY_SENT:
            return "TOX_ERR_FRIEND_ADD_ALREADY_SENT";
        case TOX_ERR_FRIEND_ADD_BAD_CHECKSUM:
            return "TOX_ERR_FRIEND_ADD_BAD_CHECKSUM";
        case TOX_ERR_FRIEND_ADD_SET_NEW_NOSPAM:
            return "TOX_ERR_FRIEND_ADD_SET_NEW_NOSPAM";
        case TOX_ERR_FRIEND_ADD_MALLOC:
            return "TOX_ERR_FRIEND_ADD_MALLOC";
    }
    return "TOX_ERR_FRIEND_ADD_?";
}

const char* name_of(Tox_Err_Friend_Delete e) {
    switch (e) {
        case TOX_ERR_FRIEND_DELETE_OK:
            return "TOX_ERR_FRIEND_DELETE_OK";
        case TOX_ERR_FRIEND_DELETE_FRIEND_NOT_FOUND:
            return "TOX_ERR_FRIEND_DELETE_FRIEND_NOT_FOUND";
    }
    return "TOX_ERR_FRIEND_DELETE_?";
}

const char* name_of(Tox_Err_Bootstrap e) {
    switch (e) {
        case TOX_ERR_BOOTSTRAP_OK:
            return "TOX_ERR_BOOTSTRAP_OK";
        case TOX_ERR_BOOTSTRAP_NULL:
            return "TOX_ERR_BOOTSTRAP_NULL";
        case TOX_ERR_BOOTSTRAP_BAD_HOST:
            return "TOX_ERR_BOOTSTRAP_BAD_HOST";
        case TOX_ERR_BOOTSTRAP_BAD_PORT:
            return "TOX_ERR_BOOTSTRAP_BAD_PORT";
    }
    return "TOX_ERR_BOOTSTRAP_?";
}

using netcrypto::testing::connection_name;

std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
            ++i;
        }
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
            ++i;
        }
        if (i > start) {
            out.push_back(line.substr(start, i - start));
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Streaming SHA-256 accumulator and the deterministic byte-stream generator.
// ---------------------------------------------------------------------------------------------

constexpr uint8_t kStreamPacketId = 160;
constexpr size_t kStreamChunk = TOX_MAX_CUSTOM_PACKET_SIZE - 1;  // 1372 payload bytes
constexpr uint64_t kMaxStreamBytes = uint64_t{1} << 30;          // 1 GiB per send_stream

struct StreamRx {
    StreamRx() { crypto_hash_sha256_init(&state); }
    void add(const uint8_t* data, size_t len) {
        crypto_hash_sha256_update(&state, data, len);
        bytes += len;
    }
    [[nodiscard]] std::string digest_hex() const {
        crypto_hash_sha256_state copy = state;
        uint8_t out[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_final(&copy, out);
        return to_hex(out, sizeof(out));
    }
    crypto_hash_sha256_state state{};
    uint64_t bytes = 0;
};

// The byte stream for `send_stream N SEED` is randombytes_buf_deterministic(buf, N, seed) with
// seed[0..8) = SEED as little-endian uint64 and seed[8..32) = 0 (libsodium 1.0.18: ChaCha20-IETF
// keystream, key = seed, nonce = "LibsodiumDRG", block counter starting at 0).
std::vector<uint8_t> generate_stream(uint64_t nbytes, uint64_t seed_value) {
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    for (size_t i = 0; i < 8; ++i) {
        seed[i] = static_cast<uint8_t>(seed_value >> (8 * i));
    }
    std::vector<uint8_t> buf(static_cast<size_t>(nbytes));
    if (!buf.empty()) {
        randombytes_buf_deterministic(buf.data(), buf.size(), seed);
    }
    return buf;
}

struct StreamTx {
    uint32_t friend_number = 0;
    uint64_t seed = 0;
    std::vector<uint8_t> data;
    size_t offset = 0;
    std::string sha256_hex;
    uint64_t sendq_retries = 0;
};

// ---------------------------------------------------------------------------------------------
// Options.
// ---------------------------------------------------------------------------------------------

struct BootstrapNode {
    std::string host;
    uint16_t port = 0;
    std::vector<uint8_t> dht_key;
};

struct Options {
    std::vector<std::vector<uint8_t>> friends;
    bool echo = false;
    std::optional<std::string> name;
    std::optional<std::string> status_message;
    uint16_t port = 0;
    std::optional<std::string> savedata;
    uint64_t max_seconds = 600;
    std::vector<BootstrapNode> bootstrap;
    std::vector<BootstrapNode> relays;  // --relay: tox_add_tcp_relay (host, port, relay key)
    bool log = false;
    bool local_discovery = false;
    bool no_udp = false;    // --no-udp: udp_enabled false, everything through TCP relays
    uint16_t tcp_port = 0;  // --tcp-port: run c-toxcore's own TCP relay server on this port
};

std::optional<std::vector<uint8_t>> parse_public_key(std::string_view hex) {
    auto key = from_hex(hex);
    if (!key || key->size() != TOX_PUBLIC_KEY_SIZE) {
        return std::nullopt;
    }
    return key;
}

bool is_loopback_ipv4_literal(const std::string& host) {
    in_addr addr{};
    if (inet_pton(AF_INET, host.c_str(), &addr) != 1) {
        return false;
    }
    return (ntohl(addr.s_addr) >> 24) == 127U;
}

// HOST:PORT:KEYHEX for --bootstrap (`option`, a DHT key) and --relay (a relay key); HOST must be
// a 127.x.x.x literal.
std::optional<BootstrapNode> parse_bootstrap(std::string_view spec, std::string* why,
                                             const std::string& option = "--bootstrap",
                                             const std::string& key_name = "DHT key") {
    const size_t c1 = spec.find(':');
    const size_t c2 = c1 == std::string_view::npos ? c1 : spec.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
        *why = option +
               (option == "--relay" ? " expects HOST:PORT:KEYHEX" : " expects HOST:PORT:DHTKEYHEX");
        return std::nullopt;
    }
    BootstrapNode node;
    node.host = std::string(spec.substr(0, c1));
    const auto port = parse_u32(spec.substr(c1 + 1, c2 - c1 - 1));
    auto key = parse_public_key(spec.substr(c2 + 1));
    if (!is_loopback_ipv4_literal(node.host)) {
        *why = option + " refused: host must be a 127.x.x.x IPv4 literal";
        return std::nullopt;
    }
    if (!port || *port == 0 || *port > 65535) {
        *why = option + ": bad port";
        return std::nullopt;
    }
    if (!key) {
        *why = option + ": " + key_name + " must be 64 hex digits";
        return std::nullopt;
    }
    node.port = static_cast<uint16_t>(*port);
    node.dht_key = std::move(*key);
    return node;
}

std::optional<Options> parse_args(int argc, char** argv) {
    Options opt;
    auto fail = [](const std::string& why) -> std::optional<Options> {
        emit_error(why);
        return std::nullopt;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::optional<std::string_view> {
            if (i + 1 >= argc) {
                return std::nullopt;
            }
            return std::string_view(argv[++i]);
        };
        if (arg == "--echo") {
            opt.echo = true;
        } else if (arg == "--log") {
            opt.log = true;
        } else if (arg == "--local-discovery") {
            opt.local_discovery = true;
        } else if (arg == "--no-udp") {
            opt.no_udp = true;
        } else if (arg == "--tcp-port") {
            const auto v = value();
            const auto p = v ? parse_u32(*v) : std::nullopt;
            if (!p || *p == 0 || *p > 65535) {
                return fail("--tcp-port expects 1..65535");
            }
            opt.tcp_port = static_cast<uint16_t>(*p);
        } else if (arg == "--relay") {
            const auto v = value();
            if (!v) {
                return fail("--relay expects HOST:PORT:KEYHEX");
            }
            std::string why;
            auto node = parse_bootstrap(*v, &why, "--relay", "relay key");
            if (!node) {
                return fail(why);
            }
            opt.relays.push_back(std::move(*node));
        } else if (arg == "--friend") {
            const auto v = value();
            auto key = v ? parse_public_key(*v) : std::nullopt;
            if (!key) {
                return fail("--friend expects a 64-hex-digit public key");
            }
            opt.friends.push_back(std::move(*key));
        } else if (arg == "--name") {
            const auto v = value();
            if (!v) {
                return fail("--name expects a value");
            }
            opt.name = std::string(*v);
        } else if (arg == "--status-message") {
            const auto v = value();
            if (!v) {
                return fail("--status-message expects a value");
            }
            opt.status_message = std::string(*v);
        } else if (arg == "--port") {
            const auto v = value();
            const auto p = v ? parse_u32(*v) : std::nullopt;
            if (!p || *p > 65535) {
                return fail("--port expects 0..65535");
            }
            opt.port = static_cast<uint16_t>(*p);
        } else if (arg == "--savedata") {
            const auto v = value();
            if (!v) {
                return fail("--savedata expects a file name");
            }
            opt.savedata = std::string(*v);
        } else if (arg == "--max-seconds") {
            const auto v = value();
            const auto s = v ? parse_u64(*v) : std::nullopt;
            if (!s || *s == 0 || *s > 86400) {
                return fail("--max-seconds expects 1..86400");
            }
            opt.max_seconds = *s;
        } else if (arg == "--bootstrap") {
            const auto v = value();
            if (!v) {
                return fail("--bootstrap expects HOST:PORT:DHTKEYHEX");
            }
            std::string why;
            auto node = parse_bootstrap(*v, &why);
            if (!node) {
                return fail(why);
            }
            opt.bootstrap.push_back(std::move(*node));
        } else {
            return fail("unknown argument: " + std::string(arg));
        }
    }
    return opt;
}

std::optional<std::vector<uint8_t>> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>());
}

bool write_file_atomic(const std::string& path, const std::vector<uint8_t>& data) {
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            return false;
        }
        out.write(reinterpret_cast<const char*>(data.data()),
                  static_cast<std::streamsize>(data.size()));
        if (!out) {
            return false;
        }
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// ---------------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------------

class Harness {
  public:
    explicit Harness(Options opt) : opt_(std::move(opt)) {}

    int run();

  private:
    bool create_tox();
    void install_callbacks();
    void emit_ready();
    void add_friend(const std::vector<uint8_t>& key);
    void iterate_once();
    void flush_outgoing();
    void flush_echo_queues();
    void flush_streams();
    void handle_line(std::string_view line);
    void read_stdin();
    void emit_stats();
    void debug_probe_nonloopback();
    static void debug_guard_selfcheck();
    std::string friends_json();

    // Commands.
    void cmd_send_message(const std::vector<std::string_view>& args);
    void cmd_send_custom(const std::vector<std::string_view>& args, bool lossless);
    void cmd_send_stream(const std::vector<std::string_view>& args);
    void cmd_friend_info(uint32_t friend_number);

    // Callbacks.
    static Harness* self(void* user_data) { return static_cast<Harness*>(user_data); }
    static void on_friend_connection(Tox* /*tox*/, uint32_t fn, Tox_Connection c, void* ud);
    static void on_self_connection(Tox* /*tox*/, Tox_Connection c, void* ud);
    static void on_friend_message(Tox* /*tox*/, uint32_t fn, Tox_Message_Type type,
                                  const uint8_t* msg, size_t len, void* ud);
    static void on_read_receipt(Tox* /*tox*/, uint32_t fn, uint32_t message_id, void* ud);
    static void on_lossless(Tox* /*tox*/, uint32_t fn, const uint8_t* data, size_t len, void* ud);
    static void on_lossy(Tox* /*tox*/, uint32_t fn, const uint8_t* data, size_t len, void* ud);
    static void on_friend_name(Tox* /*tox*/, uint32_t fn, const uint8_t* name, size_t len,
                               void* ud);
    static void on_friend_status_message(Tox* /*tox*/, uint32_t fn, const uint8_t* msg, size_t len,
                                         void* ud);
    static void on_friend_status(Tox* /*tox*/, uint32_t fn, Tox_User_Status status, void* ud);
    static void on_friend_typing(Tox* /*tox*/, uint32_t fn, bool typing, void* ud);
    static void on_log(Tox* /*tox*/, Tox_Log_Level level, const char* file, uint32_t line,
                       const char* func, const char* message, void* ud);

    struct EchoMessage {
        uint32_t friend_number;
        Tox_Message_Type type;
        std::vector<uint8_t> text;
    };

    Options opt_;
    netcrypto::testing::ToxPtr tox_;
    int64_t deadline_ms_ = 0;
    bool quit_ = false;
    std::string exit_reason_ = "quit";
    bool stopped_ = false;  // stop_iterating
    bool paused_ = false;
    int64_t pause_until_ms_ = 0;
    std::string stdin_buf_;
    bool stdin_eof_ = false;

    StreamRx stream_rx_;  // all friends, arrival order
    std::map<uint32_t, StreamRx> stream_rx_by_friend_;
    std::map<uint32_t, std::deque<std::vector<uint8_t>>> echo_packets_;  // --echo of id 160
    std::deque<EchoMessage> echo_messages_;
    std::map<uint32_t, StreamTx> streams_;  // one active send_stream per friend
};

bool Harness::create_tox() {
    Tox_Err_Options_New oerr = TOX_ERR_OPTIONS_NEW_OK;
    const auto o = netcrypto::testing::loopback_tox_options(&oerr);
    if (!o) {
        emit_error("tox_options_new failed");
        return false;
    }
    if (opt_.port != 0) {
        tox_options_set_start_port(o.get(), opt_.port);
        tox_options_set_end_port(o.get(), opt_.port);
    }
    if (opt_.log) {
        tox_options_set_log_callback(o.get(), &Harness::on_log);
    }
    // LAN discovery: c-toxcore then answers a LAN discovery packet (0x21) from a loopback/LAN
    // address with a DHT nodes request, and every 10 s broadcasts its own to 255.255.255.255 and
    // the interfaces' broadcast addresses -- which the loopback guard refuses and counts.
    tox_options_set_local_discovery_enabled(o.get(), opt_.local_discovery);
    // TCP: with UDP off c-toxcore reaches friends only through the --relay relays; with a TCP
    // port it also serves as a relay itself (its relay key is its DHT key).
    tox_options_set_udp_enabled(o.get(), !opt_.no_udp);
    tox_options_set_tcp_port(o.get(), opt_.tcp_port);

    std::vector<uint8_t> saved;
    bool create_savedata = false;
    if (opt_.savedata) {
        auto data = read_file(*opt_.savedata);
        if (data) {
            if (data->empty()) {
                emit_error("savedata file is empty: " + *opt_.savedata);
                return false;
            }
            saved = std::move(*data);
            tox_options_set_savedata_type(o.get(), TOX_SAVEDATA_TYPE_TOX_SAVE);
            tox_options_set_savedata_data(o.get(), saved.data(), saved.size());
        } else {
            create_savedata = true;
        }
    }

    Tox_Err_New err = TOX_ERR_NEW_OK;
    tox_.reset(tox_new(o.get(), &err));
    if (!tox_) {
        emit_error_code("tox_new", static_cast<int>(err), name_of(err));
        return false;
    }
    if (create_savedata) {
        std::vector<uint8_t> data(tox_get_savedata_size(tox_.get()));
        tox_get_savedata(tox_.get(), data.data());
        if (!write_file_atomic(*opt_.savedata, data)) {
            emit_error("cannot write savedata file: " + *opt_.savedata);
            return false;
        }
    }
    const auto to_bytes = [](const std::string& text) {
        return std::vector<uint8_t>(text.begin(), text.end());
    };
    if (opt_.name) {
        const std::vector<uint8_t> name = to_bytes(*opt_.name);
        Tox_Err_Set_Info e = TOX_ERR_SET_INFO_OK;
        tox_self_set_name(tox_.get(), name.data(), name.size(), &e);
        if (e != TOX_ERR_SET_INFO_OK) {
            emit_error_code("tox_self_set_name", static_cast<int>(e), "TOX_ERR_SET_INFO");
        }
    }
    if (opt_.status_message) {
        const std::vector<uint8_t> text = to_bytes(*opt_.status_message);
        Tox_Err_Set_Info e = TOX_ERR_SET_INFO_OK;
        tox_self_set_status_message(tox_.get(), text.data(), text.size(), &e);
        if (e != TOX_ERR_SET_INFO_OK) {
            emit_error_code("tox_self_set_status_message", static_cast<int>(e), "TOX_ERR_SET_INFO");
        }
    }
    return true;
}

void Harness::install_callbacks() {
    Tox* t = tox_.get();
    tox_callback_friend_connection_status(t, &Harness::on_friend_connection);
    tox_callback_self_connection_status(t, &Harness::on_self_connection);
    tox_callback_friend_message(t, &Harness::on_friend_message);
    tox_callback_friend_read_receipt(t, &Harness::on_read_receipt);
    tox_callback_friend_lossless_packet(t, &Harness::on_lossless);
    tox_callback_friend_lossy_packet(t, &Harness::on_lossy);
    tox_callback_friend_name(t, &Harness::on_friend_name);
    tox_callback_friend_status_message(t, &Harness::on_friend_status_message);
    tox_callback_friend_status(t, &Harness::on_friend_status);
    tox_callback_friend_typing(t, &Harness::on_friend_typing);
}

void Harness::emit_ready() {
    uint8_t pk[TOX_PUBLIC_KEY_SIZE];
    uint8_t dht[TOX_PUBLIC_KEY_SIZE];
    uint8_t addr[TOX_ADDRESS_SIZE];
    tox_self_get_public_key(tox_.get(), pk);
    tox_self_get_dht_id(tox_.get(), dht);
    tox_self_get_address(tox_.get(), addr);
    Tox_Err_Get_Port perr = TOX_ERR_GET_PORT_OK;
    const uint16_t port = tox_self_get_udp_port(tox_.get(), &perr);
    Tox_Err_Get_Port terr = TOX_ERR_GET_PORT_OK;
    const uint16_t tcp_port = tox_self_get_tcp_port(tox_.get(), &terr);
    Json("ready")
        .str("public_key", to_hex(pk, sizeof(pk)))
        .str("dht_public_key", to_hex(dht, sizeof(dht)))
        .num("udp_port", perr == TOX_ERR_GET_PORT_OK ? port : -1)
        .str("tox_id", to_upper(to_hex(addr, sizeof(addr))))
        .boolean("local_discovery", opt_.local_discovery)
        .boolean("udp", !opt_.no_udp)
        .num("tcp_port", terr == TOX_ERR_GET_PORT_OK ? tcp_port : -1)
        .str("relay_key", opt_.tcp_port != 0 ? to_hex(dht, sizeof(dht)) : std::string())
        .emit();
}

void Harness::add_friend(const std::vector<uint8_t>& key) {
    Tox_Err_Friend_Add err = TOX_ERR_FRIEND_ADD_OK;
    const uint32_t fn = tox_friend_add_norequest(tox_.get(), key.data(), &err);
    if (err != TOX_ERR_FRIEND_ADD_OK) {
        emit_error_code("add_friend", static_cast<int>(err), name_of(err));
        return;
    }
    Json("friend_added").unum("friend", fn).str("public_key", to_hex(key)).emit();
}

// --- callbacks --------------------------------------------------------------------------------

void Harness::on_friend_connection(Tox* /*tox*/, uint32_t fn, Tox_Connection c,
                                   void* /*user_data*/) {
    Json("friend_connection").unum("friend", fn).str("status", connection_name(c)).t().emit();
}

void Harness::on_self_connection(Tox* /*tox*/, Tox_Connection c, void* /*user_data*/) {
    Json("self_connection").str("status", connection_name(c)).t().emit();
}

void Harness::on_friend_message(Tox* /*tox*/, uint32_t fn, Tox_Message_Type type,
                                const uint8_t* msg, size_t len, void* ud) {
    Json("friend_message")
        .unum("friend", fn)
        .num("type", static_cast<int>(type))
        .str("text_hex", to_hex(msg, len))
        .unum("len", len)
        .t()
        .emit();
    Harness* h = self(ud);
    if (h->opt_.echo) {
        static constexpr std::string_view kPrefix = "echo: ";
        EchoMessage e{fn, type, std::vector<uint8_t>(kPrefix.begin(), kPrefix.end())};
        e.text.insert(e.text.end(), msg, msg + len);
        h->echo_messages_.push_back(std::move(e));
    }
}

void Harness::on_read_receipt(Tox* /*tox*/, uint32_t fn, uint32_t message_id, void* /*user_data*/) {
    Json("read_receipt").unum("friend", fn).unum("message_id", message_id).t().emit();
}

void Harness::on_lossless(Tox* /*tox*/, uint32_t fn, const uint8_t* data, size_t len, void* ud) {
    Harness* h = self(ud);
    if (len >= 1 && data[0] == kStreamPacketId) {
        h->stream_rx_.add(data + 1, len - 1);
        h->stream_rx_by_friend_[fn].add(data + 1, len - 1);
        if (h->opt_.echo) {
            h->echo_packets_[fn].emplace_back(data, data + len);
        }
        return;
    }
    Json("lossless_packet")
        .unum("friend", fn)
        .num("id", len >= 1 ? data[0] : -1)
        .unum("len", len)
        .str("data_hex", to_hex(data, len))
        .t()
        .emit();
}

void Harness::on_lossy(Tox* /*tox*/, uint32_t fn, const uint8_t* data, size_t len,
                       void* /*user_data*/) {
    Json("lossy_packet")
        .unum("friend", fn)
        .num("id", len >= 1 ? data[0] : -1)
        .unum("len", len)
        .str("data_hex", to_hex(data, len))
        .t()
        .emit();
}

void Harness::on_friend_name(Tox* /*tox*/, uint32_t fn, const uint8_t* name, size_t len,
                             void* /*user_data*/) {
    Json("friend_name").unum("friend", fn).str("name_hex", to_hex(name, len)).t().emit();
}

void Harness::on_friend_status_message(Tox* /*tox*/, uint32_t fn, const uint8_t* msg, size_t len,
                                       void* /*user_data*/) {
    Json("friend_status_message").unum("friend", fn).str("text_hex", to_hex(msg, len)).t().emit();
}

void Harness::on_friend_status(Tox* /*tox*/, uint32_t fn, Tox_User_Status status,
                               void* /*user_data*/) {
    Json("friend_status").unum("friend", fn).num("status", static_cast<int>(status)).t().emit();
}

void Harness::on_friend_typing(Tox* /*tox*/, uint32_t fn, bool typing, void* /*user_data*/) {
    Json("friend_typing").unum("friend", fn).boolean("typing", typing).t().emit();
}

void Harness::on_log(Tox* /*tox*/, Tox_Log_Level level, const char* file, uint32_t line,
                     const char* func, const char* message, void* /*user_data*/) {
    std::fprintf(stderr, "[toxcore %d %lld ms] %s:%u %s: %s\n", static_cast<int>(level),
                 static_cast<long long>(now_ms()), file, line, func, message);
}

// --- outgoing work ----------------------------------------------------------------------------

void Harness::iterate_once() {
    tox_iterate(tox_.get(), this);
    flush_outgoing();
}

void Harness::flush_outgoing() {
    flush_echo_queues();
    flush_streams();
}

void Harness::flush_echo_queues() {
    while (!echo_messages_.empty()) {
        EchoMessage& e = echo_messages_.front();
        Tox_Err_Friend_Send_Message err = TOX_ERR_FRIEND_SEND_MESSAGE_OK;
        const uint32_t id = tox_friend_send_message(tox_.get(), e.friend_number, e.type,
                                                    e.text.data(), e.text.size(), &err);
        if (err == TOX_ERR_FRIEND_SEND_MESSAGE_SENDQ) {
            break;  // retry on the next iteration
        }
        if (err == TOX_ERR_FRIEND_SEND_MESSAGE_OK) {
            Json("echo_message_sent")
                .unum("friend", e.friend_number)
                .unum("message_id", id)
                .t()
                .emit();
        } else {
            emit_error_code("echo send_message", static_cast<int>(err), name_of(err));
        }
        echo_messages_.pop_front();
    }
    for (auto it = echo_packets_.begin(); it != echo_packets_.end();) {
        auto& queue = it->second;
        while (!queue.empty()) {
            Tox_Err_Friend_Custom_Packet err = TOX_ERR_FRIEND_CUSTOM_PACKET_OK;
            tox_friend_send_lossless_packet(tox_.get(), it->first, queue.front().data(),
                                            queue.front().size(), &err);
            if (err == TOX_ERR_FRIEND_CUSTOM_PACKET_OK) {
                queue.pop_front();
                continue;
            }
            if (err == TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ ||
                err == TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_CONNECTED) {
                break;  // never drop: retry later
            }
            emit_error_code("echo lossless", static_cast<int>(err), name_of(err));
            queue.clear();  // friend gone (or packet invalid): nothing can be retried
        }
        it = queue.empty() ? echo_packets_.erase(it) : std::next(it);
    }
}

void Harness::flush_streams() {
    for (auto it = streams_.begin(); it != streams_.end();) {
        StreamTx& s = it->second;
        bool abort = false;
        uint8_t packet[TOX_MAX_CUSTOM_PACKET_SIZE];
        packet[0] = kStreamPacketId;
        while (s.offset < s.data.size()) {
            const size_t n = std::min(kStreamChunk, s.data.size() - s.offset);
            std::memcpy(packet + 1, s.data.data() + s.offset, n);
            Tox_Err_Friend_Custom_Packet err = TOX_ERR_FRIEND_CUSTOM_PACKET_OK;
            tox_friend_send_lossless_packet(tox_.get(), s.friend_number, packet, n + 1, &err);
            if (err == TOX_ERR_FRIEND_CUSTOM_PACKET_OK) {
                s.offset += n;
                continue;
            }
            if (err == TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ ||
                err == TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_CONNECTED) {
                ++s.sendq_retries;
                break;  // same chunk again on the next iteration
            }
            emit_error_code("send_stream", static_cast<int>(err), name_of(err));
            abort = true;
            break;
        }
        if (!abort && s.offset >= s.data.size()) {
            Json("stream_sent")
                .unum("friend", s.friend_number)
                .unum("bytes", s.data.size())
                .str("sha256", s.sha256_hex)
                .unum("blocked_attempts", s.sendq_retries)
                .t()
                .emit();
        }
        it = (abort || s.offset >= s.data.size()) ? streams_.erase(it) : std::next(it);
    }
}

// --- commands ---------------------------------------------------------------------------------

void Harness::cmd_send_message(const std::vector<std::string_view>& a) {
    const auto fn = a.size() >= 3 ? parse_u32(a[1]) : std::nullopt;
    const auto type = a.size() >= 3 ? parse_u32(a[2]) : std::nullopt;
    const auto text = a.size() == 4 ? from_hex(a[3]) : std::optional<std::vector<uint8_t>>{};
    if (!fn || !type || *type > 1 || a.size() > 4 || (a.size() == 4 && !text)) {
        emit_error("usage: send_message FRIEND TYPE(0|1) TEXTHEX");
        return;
    }
    const std::vector<uint8_t> bytes = text ? *text : std::vector<uint8_t>{};
    Tox_Err_Friend_Send_Message err = TOX_ERR_FRIEND_SEND_MESSAGE_OK;
    const uint32_t id = tox_friend_send_message(
        tox_.get(), *fn, static_cast<Tox_Message_Type>(*type), bytes.data(), bytes.size(), &err);
    if (err != TOX_ERR_FRIEND_SEND_MESSAGE_OK) {
        emit_error_code("send_message", static_cast<int>(err), name_of(err));
        return;
    }
    Json("message_sent").unum("friend", *fn).unum("message_id", id).t().emit();
}

void Harness::cmd_send_custom(const std::vector<std::string_view>& a, bool lossless) {
    const auto fn = a.size() == 3 ? parse_u32(a[1]) : std::nullopt;
    const auto data = a.size() == 3 ? from_hex(a[2]) : std::nullopt;
    if (!fn || !data) {
        emit_error(lossless ? "usage: send_lossless FRIEND HEX" : "usage: send_lossy FRIEND HEX");
        return;
    }
    Tox_Err_Friend_Custom_Packet err = TOX_ERR_FRIEND_CUSTOM_PACKET_OK;
    const bool ok =
        lossless
            ? tox_friend_send_lossless_packet(tox_.get(), *fn, data->data(), data->size(), &err)
            : tox_friend_send_lossy_packet(tox_.get(), *fn, data->data(), data->size(), &err);
    Json(lossless ? "lossless_sent" : "lossy_sent")
        .boolean("ok", ok && err == TOX_ERR_FRIEND_CUSTOM_PACKET_OK)
        .num("err", static_cast<int>(err))
        .str("err_name", name_of(err))
        .t()
        .emit();
}

void Harness::cmd_send_stream(const std::vector<std::string_view>& a) {
    const auto fn = a.size() == 4 ? parse_u32(a[1]) : std::nullopt;
    const auto nbytes = a.size() == 4 ? parse_u64(a[2]) : std::nullopt;
    const auto seed = a.size() == 4 ? parse_u64(a[3]) : std::nullopt;
    if (!fn || !nbytes || !seed || *nbytes > kMaxStreamBytes) {
        emit_error("usage: send_stream FRIEND NBYTES(<=1GiB) SEED");
        return;
    }
    if (!tox_friend_exists(tox_.get(), *fn)) {
        emit_error_code("send_stream",
                        static_cast<int>(TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_FOUND),
                        name_of(TOX_ERR_FRIEND_CUSTOM_PACKET_FRIEND_NOT_FOUND));
        return;
    }
    if (streams_.contains(*fn)) {
        emit_error("send_stream: a stream to this friend is still in progress");
        return;
    }
    StreamTx s;
    s.friend_number = *fn;
    s.seed = *seed;
    s.data = generate_stream(*nbytes, *seed);
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, s.data.data(), s.data.size());
    s.sha256_hex = to_hex(digest, sizeof(digest));
    streams_.emplace(*fn, std::move(s));
}

// What c-toxcore's public API says about a friend right now (tox_friend_get_*).
void Harness::cmd_friend_info(uint32_t fn) {
    Tox* t = tox_.get();
    Tox_Err_Friend_Query qerr = TOX_ERR_FRIEND_QUERY_OK;
    const size_t name_len = tox_friend_get_name_size(t, fn, &qerr);
    if (qerr != TOX_ERR_FRIEND_QUERY_OK) {
        emit_error_code("friend_info", static_cast<int>(qerr), "TOX_ERR_FRIEND_QUERY");
        return;
    }
    std::vector<uint8_t> name(name_len);
    tox_friend_get_name(t, fn, name.data(), &qerr);
    std::vector<uint8_t> text(tox_friend_get_status_message_size(t, fn, &qerr));
    tox_friend_get_status_message(t, fn, text.data(), &qerr);
    uint8_t pk[TOX_PUBLIC_KEY_SIZE]{};
    Tox_Err_Friend_Get_Public_Key perr = TOX_ERR_FRIEND_GET_PUBLIC_KEY_OK;
    tox_friend_get_public_key(t, fn, pk, &perr);
    const Tox_Connection c = tox_friend_get_connection_status(t, fn, &qerr);
    const Tox_User_Status status = tox_friend_get_status(t, fn, &qerr);
    const std::string name_text(name.begin(), name.end());
    const std::string status_text(text.begin(), text.end());
    Json("friend_info")
        .unum("friend", fn)
        .str("public_key", to_hex(pk, sizeof(pk)))
        .str("connection", connection_name(c))
        .str("name", name_text)
        .str("name_hex", to_hex(name))
        .str("status_message", status_text)
        .str("status_message_hex", to_hex(text))
        .num("status", static_cast<int>(status))
        .t()
        .emit();
}

std::string Harness::friends_json() {
    std::string out = "[";
    const size_t n = tox_self_get_friend_list_size(tox_.get());
    std::vector<uint32_t> list(n);
    tox_self_get_friend_list(tox_.get(), list.data());
    for (size_t i = 0; i < n; ++i) {
        Tox_Err_Friend_Query qerr = TOX_ERR_FRIEND_QUERY_OK;
        const Tox_Connection c = tox_friend_get_connection_status(tox_.get(), list[i], &qerr);
        const auto rx = stream_rx_by_friend_.find(list[i]);
        const StreamRx empty;
        const StreamRx& r = rx == stream_rx_by_friend_.end() ? empty : rx->second;
        if (i != 0) {
            out += ',';
        }
        out += "{\"friend\":" + std::to_string(list[i]) + R"(,"status":")" + connection_name(c) +
               R"(","stream_rx_bytes":)" + std::to_string(r.bytes) + R"(,"stream_rx_sha256":")" +
               r.digest_hex() + "\"}";
    }
    out += "]";
    return out;
}

// The destinations that count as refused_broadcast_sends (besides 255.255.255.255).
std::string broadcast_json() {
    std::string out = "[";
    for (const uint32_t a : guard::g_broadcast_addresses) {
        in_addr ia{};
        ia.s_addr = htonl(a);
        char buf[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &ia, buf, sizeof(buf));
        out += out.size() > 1 ? ",\"" : "\"";
        out += buf;
        out += '"';
    }
    return out + "]";
}

void Harness::emit_stats() {
    std::string refused = "[";
    {
        std::lock_guard<std::mutex> lock(guard::g_mutex);
        bool first = true;
        for (const auto& d : guard::g_refused_destinations) {
            if (!first) {
                refused += ',';
            }
            first = false;
            refused += '"';
            refused += json_escape(d);
            refused += '"';
        }
    }
    refused += "]";
    uint64_t pending_echo = 0;
    for (const auto& [fn, q] : echo_packets_) {
        pending_echo += q.size();
    }
    Json("stats")
        .unum("stream_rx_bytes", stream_rx_.bytes)
        .str("stream_rx_sha256", stream_rx_.digest_hex())
        .unum("nonloopback_sends", guard::refused())
        .unum("refused_broadcast_sends", guard::g_refused_broadcast.load())
        .unum("refused_other_sends", guard::g_refused_other.load())
        .raw("refused_destinations", refused)
        .raw("broadcast_addresses", broadcast_json())
        .unum("loopback_sendto_calls", guard::g_allowed_sendto.load())
        .unum("loopback_sendto_calls_from_toxcore", guard::g_allowed_sendto_from_toxcore.load())
        .unum("streams_in_progress", streams_.size())
        .unum("echo_packets_pending", pending_echo)
        .boolean("iterating", !stopped_ && !paused_)
        .raw("friends", friends_json())
        .t()
        .emit();
}

// Shows that the guard refuses a non-loopback destination. (1) a datagram from this executable
// to 10.0.0.1; (2) only when toxcore's own sendto calls are already seen passing through the
// guard (so it is certain that they are interposed): bootstrap toxcore to 10.0.0.1, so that
// libtoxcore itself tries to send there. Both are refused before the real system call.
void Harness::debug_probe_nonloopback() {
    const uint64_t before = guard::refused();
    bool own_refused = false;
    bool own_sendmsg_refused = false;
    bool own_connect_refused = false;
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9);
    dst.sin_addr.s_addr = htonl(0x0a000001U);  // 10.0.0.1
    const auto* dst_sa = reinterpret_cast<const sockaddr*>(&dst);
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0) {
        uint8_t byte = 0;
        errno = 0;
        own_refused = sendto(fd, &byte, 1, 0, dst_sa, sizeof(dst)) == -1 && errno == EPERM;
        iovec iov{&byte, 1};
        msghdr msg{};
        msg.msg_name = &dst;
        msg.msg_namelen = sizeof(dst);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        errno = 0;
        own_sendmsg_refused = sendmsg(fd, &msg, 0) == -1 && errno == EPERM;
        errno = 0;
        own_connect_refused = connect(fd, dst_sa, sizeof(dst)) == -1 && errno == EPERM;
        close(fd);
    }
    const uint64_t toxcore_calls = guard::g_allowed_sendto_from_toxcore.load();
    bool toxcore_probe = false;
    uint64_t toxcore_refused = 0;
    if (toxcore_calls > 0 && !stopped_) {
        uint8_t key[TOX_PUBLIC_KEY_SIZE];
        randombytes_buf(key, sizeof(key));
        const uint64_t mid = guard::refused();
        Tox_Err_Bootstrap err = TOX_ERR_BOOTSTRAP_OK;
        tox_bootstrap(tox_.get(), "10.0.0.1", 33445, key, &err);
        tox_iterate(tox_.get(), this);
        toxcore_probe = true;
        toxcore_refused = guard::refused() - mid;
    }
    Json("probe_nonloopback")
        .boolean("own_sendto_refused", own_refused)
        .boolean("own_sendmsg_refused", own_sendmsg_refused)
        .boolean("own_connect_refused", own_connect_refused)
        .boolean("toxcore_probe_run", toxcore_probe)
        .unum("toxcore_refused", toxcore_refused)
        .unum("refused_total_delta", guard::refused() - before)
        .unum("nonloopback_sends", guard::refused())
        .t()
        .emit();
}

// Table test of the destination classifier used by the loopback guard (no packet is sent).
void Harness::debug_guard_selfcheck() {
    struct Case {
        const char* addr;
        bool allowed;
    };
    static constexpr Case kCases[] = {
        {"127.0.0.1", true}, {"127.255.255.254", true},  {"127.1.2.3", true},
        {"10.0.0.1", false}, {"192.0.2.255", false},     {"255.255.255.255", false},
        {"0.0.0.0", false},  {"128.0.0.1", false},       {"126.255.255.255", false},
        {"::1", true},       {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", false},
        {"::", false},       {"fe80::1", false},         {"ff02::1", false},
        {"fd00::2", false},  {"::127.0.0.1", false},     {"::2", false},
    };
    int failures = 0;
    std::string failed = "[";
    for (const Case& c : kCases) {
        sockaddr_storage ss{};
        socklen_t len = 0;
        if (std::strchr(c.addr, ':') != nullptr) {
            sockaddr_in6 sin6{};
            sin6.sin6_family = AF_INET6;
            inet_pton(AF_INET6, c.addr, &sin6.sin6_addr);
            std::memcpy(&ss, &sin6, sizeof(sin6));
            len = sizeof(sin6);
        } else {
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            inet_pton(AF_INET, c.addr, &sin.sin_addr);
            std::memcpy(&ss, &sin, sizeof(sin));
            len = sizeof(sin);
        }
        if (guard::destination_allowed(reinterpret_cast<const sockaddr*>(&ss), len) != c.allowed) {
            if (failures++ != 0) {
                failed += ',';
            }
            failed += '"';
            failed += c.addr;
            failed += '"';
        }
    }
    // Non-IP destinations stay on the host; a truncated IPv4 address is refused.
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (!guard::destination_allowed(reinterpret_cast<const sockaddr*>(&sun), sizeof(sun))) {
        if (failures++ != 0) {
            failed += ',';
        }
        failed += "\"AF_UNIX\"";
    }
    sockaddr_in short_sin{};
    short_sin.sin_family = AF_INET;
    short_sin.sin_addr.s_addr = htonl(0x7f000001U);
    if (guard::destination_allowed(reinterpret_cast<const sockaddr*>(&short_sin), 4)) {
        if (failures++ != 0) {
            failed += ',';
        }
        failed += "\"short-sockaddr_in\"";
    }
    failed += ']';
    Json("guard_selfcheck")
        .boolean("ok", failures == 0)
        .num("cases", static_cast<int64_t>(std::size(kCases)) + 2)
        .raw("failed", failed)
        .t()
        .emit();
}

void Harness::handle_line(std::string_view line) {
    const auto a = split_ws(line);
    if (a.empty()) {
        return;
    }
    const std::string_view cmd = a[0];
    const bool tox_usable = !stopped_;
    if (cmd == "stats") {
        emit_stats();
    } else if (cmd == "quit") {
        quit_ = true;
        exit_reason_ = "quit";
    } else if (cmd == "pause") {
        const auto ms = a.size() == 2 ? parse_u64(a[1]) : std::nullopt;
        if (!ms || *ms > 86400000ULL) {
            emit_error("usage: pause MS");
            return;
        }
        paused_ = true;
        pause_until_ms_ = now_ms() + static_cast<int64_t>(*ms);
        Json("paused").unum("ms", *ms).t().emit();
    } else if (cmd == "stop_iterating") {
        stopped_ = true;
        Json("stopped_iterating").t().emit();
    } else if (!tox_usable) {
        emit_error("tox is no longer iterated (stop_iterating); command ignored: " +
                   std::string(cmd));
    } else if (cmd == "send_message") {
        cmd_send_message(a);
    } else if (cmd == "send_lossless") {
        cmd_send_custom(a, true);
    } else if (cmd == "send_lossy") {
        cmd_send_custom(a, false);
    } else if (cmd == "send_stream") {
        cmd_send_stream(a);
    } else if (cmd == "add_friend") {
        const auto key = a.size() == 2 ? parse_public_key(a[1]) : std::nullopt;
        if (!key) {
            emit_error("usage: add_friend PUBKEYHEX");
            return;
        }
        add_friend(*key);
    } else if (cmd == "delete_friend") {
        const auto fn = a.size() == 2 ? parse_u32(a[1]) : std::nullopt;
        if (!fn) {
            emit_error("usage: delete_friend FRIEND");
            return;
        }
        Tox_Err_Friend_Delete err = TOX_ERR_FRIEND_DELETE_OK;
        tox_friend_delete(tox_.get(), *fn, &err);
        if (err != TOX_ERR_FRIEND_DELETE_OK) {
            emit_error_code("delete_friend", static_cast<int>(err), name_of(err));
            return;
        }
        streams_.erase(*fn);
        echo_packets_.erase(*fn);
        Json("friend_deleted").unum("friend", *fn).t().emit();
    } else if (cmd == "friend_info") {
        const auto fn = a.size() == 2 ? parse_u32(a[1]) : std::nullopt;
        if (!fn) {
            emit_error("usage: friend_info FRIEND");
            return;
        }
        cmd_friend_info(*fn);
    } else if (cmd == "debug_probe_nonloopback") {
        debug_probe_nonloopback();
    } else if (cmd == "debug_guard_selfcheck") {
        debug_guard_selfcheck();
    } else {
        emit_error("unknown command: " + std::string(line.substr(0, 200)));
    }
}

void Harness::read_stdin() {
    char buf[65536];
    for (;;) {
        const ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
        if (r > 0) {
            stdin_buf_.append(buf, static_cast<size_t>(r));
            continue;
        }
        if (r == 0) {
            stdin_eof_ = true;
        } else if (errno == EINTR) {
            continue;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            stdin_eof_ = true;
        }
        break;
    }
    size_t pos = 0;
    for (;;) {
        const size_t nl = stdin_buf_.find('\n', pos);
        if (nl == std::string::npos || quit_) {
            break;
        }
        handle_line(std::string_view(stdin_buf_).substr(pos, nl - pos));
        pos = nl + 1;
    }
    stdin_buf_.erase(0, pos);
    if (stdin_eof_ && !quit_) {
        if (!stdin_buf_.empty()) {
            handle_line(stdin_buf_);
            stdin_buf_.clear();
        }
        if (!quit_) {
            quit_ = true;
            exit_reason_ = "eof";
        }
    }
    if (stdin_buf_.size() > (16U << 20)) {
        emit_error("stdin line too long; discarded");
        stdin_buf_.clear();
    }
}

int Harness::run() {
    if (!create_tox()) {
        return 1;
    }
    install_callbacks();
    emit_ready();
    for (const auto& node : opt_.bootstrap) {
        Tox_Err_Bootstrap err = TOX_ERR_BOOTSTRAP_OK;
        const bool ok =
            tox_bootstrap(tox_.get(), node.host.c_str(), node.port, node.dht_key.data(), &err);
        Json("bootstrap")
            .str("host", node.host)
            .num("port", node.port)
            .boolean("ok", ok)
            .str("err_name", name_of(err))
            .emit();
    }
    for (const auto& relay : opt_.relays) {
        Tox_Err_Bootstrap err = TOX_ERR_BOOTSTRAP_OK;
        const bool ok = tox_add_tcp_relay(tox_.get(), relay.host.c_str(), relay.port,
                                          relay.dht_key.data(), &err);
        Json("tcp_relay")
            .str("host", relay.host)
            .num("port", relay.port)
            .str("key", to_hex(relay.dht_key))
            .boolean("ok", ok)
            .str("err_name", name_of(err))
            .emit();
    }
    for (const auto& key : opt_.friends) {
        add_friend(key);
    }

    const int flags = fcntl(STDIN_FILENO, F_GETFL);
    if (flags >= 0) {
        fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
    }
    deadline_ms_ = static_cast<int64_t>(opt_.max_seconds) * 1000;
    int64_t next_iterate = 0;

    while (!quit_) {
        int64_t now = now_ms();
        if (g_signal != 0) {
            exit_reason_ = "signal";
            break;
        }
        if (now >= deadline_ms_) {
            exit_reason_ = "max_seconds";
            break;
        }
        if (paused_ && now >= pause_until_ms_) {
            paused_ = false;
            Json("resumed").t().emit();
            next_iterate = now;
        }
        const bool active = !stopped_ && !paused_;
        if (active && now >= next_iterate) {
            iterate_once();
            now = now_ms();
            next_iterate = now + static_cast<int64_t>(tox_iteration_interval(tox_.get()));
        }
        int64_t wait = 1000;
        if (active) {
            wait = next_iterate - now;
        } else if (paused_) {
            wait = pause_until_ms_ - now;
        }
        wait = std::clamp<int64_t>(wait, 0, std::max<int64_t>(0, deadline_ms_ - now));
        wait = std::min<int64_t>(wait, 1000);
        pollfd pfd{STDIN_FILENO, POLLIN, 0};
        const int pr = poll(&pfd, 1, static_cast<int>(wait));
        if (pr > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0) {
            read_stdin();
            if (!quit_ && !stopped_ && !paused_) {
                flush_outgoing();  // start new sends right away
            }
        }
    }

    tox_.reset();  // tox_kill: sends KILL to connected friends
    Json("exit")
        .unum("nonloopback_sends", guard::refused())
        .unum("refused_broadcast_sends", guard::g_refused_broadcast.load())
        .unum("refused_other_sends", guard::g_refused_other.load())
        .str("reason", exit_reason_)
        .t()
        .emit();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, nullptr);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    if (sodium_init() < 0) {
        emit_error("sodium_init failed");
        return 1;
    }
    auto opt = parse_args(argc, argv);
    if (!opt) {
        return 2;
    }
    guard::collect_broadcast_addresses();
    Harness h(std::move(*opt));
    return h.run();
}
