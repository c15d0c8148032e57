// tox_compare: the c-toxcore measurements of bench/compare.sh (public tox.h API only).
//
//   tox_compare ctox --seconds S --file-bytes N   two c-toxcore pairs on loopback: connect time,
//                                                 custom lossless flood, file transfer
//   tox_compare nc-connect --runs N [--max-interval-ms M]
//                                                 our endpoint → a c-toxcore peer: connect time
//   tox_compare memory --max-friends K            RSS of a c-toxcore instance with 0..K friends
//                                                 connected (netcrypto endpoints as the friends)
//   tox_compare tox-peer [--bootstrap PORT:DHTKEY] [--friend PK]... [--max-interval-ms M]
//                        [--tcp-port N] [--no-udp] [--relay PORT:KEY]...
//                                                 one Tox instance (child of the others)
//
// Every driver subcommand prints one JSON object on stdout. Children print JSON lines with
// "t_ns" (CLOCK_MONOTONIC, shared by all processes), so the driver can time across processes.
//
// Safety: like tests/interop/tox_harness, this executable links the loopback guard
// (tests/support/loopback_guard.hpp), which refuses every destination outside 127.0.0.0/8 and
// ::1 before the system call; UDP-only,
// no IPv6, no LAN discovery, no TCP relay, no hole punching; bootstrap only to 127.0.0.1.
// The interposed sendto also records when the first net_crypto packet of each kind (cookie
// request, cookie response, handshake, data) left c-toxcore: the first cookie request is the
// moment c-toxcore knew the friend's DHT key and address, which tox.h does not report.
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <tuple>
#include <unistd.h>
#include <vector>

#include <sodium.h>
#include <tox/tox.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "compare_common.hpp"
#include "loopback_guard.hpp"
#include "tox_policy.hpp"

// --- loopback guard (tests/support/loopback_guard.hpp) and first-send timestamps -------------

namespace guard {

/// First send time (CLOCK_MONOTONIC ns) and destination port of net_crypto packet types
/// 0x18 cookie request, 0x19 cookie response, 0x1a handshake, 0x1b data.
std::array<std::atomic<std::int64_t>, 4> g_first_ns{};
std::array<std::atomic<int>, 4> g_first_port{};

std::uint64_t refused() { return netcrypto::testing::loopback_guard::refused(); }

void report_refusal(const char* /*call*/, const sockaddr* /*sa*/, socklen_t /*len*/,
                    const void* /*caller*/) {
    if (refused() <= 5) {
        static constexpr char kMsg[] = "tox_compare: loopback guard refused a send\n";
        (void)!::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
    }
}

/// Every UDP datagram this process sent, and those of them that were net_crypto data (0x1b).
std::atomic<std::uint64_t> g_sent_datagrams{0};
std::atomic<std::uint64_t> g_sent_bytes{0};
std::atomic<std::uint64_t> g_sent_data_packets{0};
std::atomic<std::uint64_t> g_sent_data_bytes{0};
/// Iterations of the child's loop (each one a wake-up: poll timeout or input).
std::atomic<std::uint64_t> g_loop_iterations{0};

void record(const void* buf, std::size_t n, const sockaddr* sa, socklen_t len,
            const void* /*caller*/) {
    if (buf == nullptr || n == 0) return;
    const auto type = *static_cast<const std::uint8_t*>(buf);
    g_sent_datagrams.fetch_add(1);
    g_sent_bytes.fetch_add(n);
    if (type == 0x1b) {
        g_sent_data_packets.fetch_add(1);
        g_sent_data_bytes.fetch_add(n);
    }
    if (type < 0x18 || type > 0x1b) return;
    const std::size_t k = type - 0x18U;
    std::int64_t expected = 0;
    if (g_first_ns[k].compare_exchange_strong(expected, netcrypto::bench::mono_ns())) {
        int port = 0;
        if (sa != nullptr && sa->sa_family == AF_INET &&
            len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
            sockaddr_in sin{};
            std::memcpy(&sin, sa, sizeof(sin));
            port = ntohs(sin.sin_port);
        }
        g_first_port[k] = port;
    }
}

// Installed before main() runs.
const bool g_hooks_installed = [] {
    netcrypto::testing::loopback_guard::set_hooks(&report_refusal, &record);
    return true;
}();

}  // namespace guard

namespace {

using namespace netcrypto;
using namespace netcrypto::bench;
using namespace std::chrono_literals;

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += kDigits[p[i] >> 4U];
        s += kDigits[p[i] & 0xFU];
    }
    return s;
}

std::optional<std::array<std::uint8_t, 32>> unhex32(const std::string& h) {
    if (h.size() != 64) return std::nullopt;
    std::array<std::uint8_t, 32> k{};
    for (std::size_t i = 0; i < 32; ++i) {
        k[i] = static_cast<std::uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
    }
    return k;
}

PublicKey to_key(const std::array<std::uint8_t, 32>& b) {
    PublicKey k;
    k.bytes = b;
    return k;
}

using netcrypto::testing::connection_name;

// --- tox-peer: one c-toxcore instance -----------------------------------------------------------

/// Payload of custom lossless packets and file chunks.
constexpr std::uint8_t kStreamId = 160;
constexpr std::size_t kPatternSize = 65536;

struct PeerState {
    std::uint64_t ll_rx_bytes = 0;
    std::uint64_t ll_rx_packets = 0;
    std::uint64_t ll_tx_packets = 0;
    std::uint64_t ll_blocked = 0;
    bool flooding = false;
    std::uint32_t flood_friend = 0;
    std::uint64_t file_rx_bytes = 0;
    std::uint64_t file_rx_chunks = 0;
    std::uint64_t file_tx_bytes = 0;
    std::uint64_t file_tx_errors = 0;
    std::vector<std::uint8_t> pattern = std::vector<std::uint8_t>(kPatternSize + 2048);
    std::array<std::uint8_t, TOX_MAX_CUSTOM_PACKET_SIZE> packet{};
};

PeerState& state(void* user_data) { return *static_cast<PeerState*>(user_data); }

void on_self_connection(Tox*, Tox_Connection status, void*) {
    emit({{"event", "self_connection"}, {"status", connection_name(status)}});
}

void on_friend_connection(Tox*, std::uint32_t friend_number, Tox_Connection status, void*) {
    emit({{"event", "friend_connection"},
          {"friend", friend_number},
          {"status", connection_name(status)}});
}

void on_lossless(Tox*, std::uint32_t, const std::uint8_t* data, std::size_t length, void* ud) {
    if (length > 0 && data[0] == kStreamId) {
        state(ud).ll_rx_bytes += length;  // the whole message, id byte included
        ++state(ud).ll_rx_packets;
    }
}

void on_file_recv(Tox* tox, std::uint32_t friend_number, std::uint32_t file, std::uint32_t kind,
                  std::uint64_t size, const std::uint8_t*, std::size_t, void*) {
    const bool data = kind == TOX_FILE_KIND_DATA;
    tox_file_control(tox, friend_number, file,
                     data ? TOX_FILE_CONTROL_RESUME : TOX_FILE_CONTROL_CANCEL, nullptr);
    if (data) emit({{"event", "file_recv"}, {"friend", friend_number}, {"size", size}});
}

void on_file_recv_chunk(Tox*, std::uint32_t friend_number, std::uint32_t, std::uint64_t position,
                        const std::uint8_t*, std::size_t length, void* ud) {
    if (length == 0) {
        emit({{"event", "file_done"},
              {"friend", friend_number},
              {"bytes", state(ud).file_rx_bytes},
              {"position", position}});
        return;
    }
    state(ud).file_rx_bytes += length;
    ++state(ud).file_rx_chunks;
}

void on_file_chunk_request(Tox* tox, std::uint32_t friend_number, std::uint32_t file,
                           std::uint64_t position, std::size_t length, void* ud) {
    PeerState& st = state(ud);
    if (length == 0) {
        emit({{"event", "file_sent"}, {"friend", friend_number}, {"bytes", st.file_tx_bytes}});
        return;
    }
    const std::size_t off = static_cast<std::size_t>(position % kPatternSize);
    Tox_Err_File_Send_Chunk err{};
    if (tox_file_send_chunk(tox, friend_number, file, position, st.pattern.data() + off, length,
                            &err)) {
        st.file_tx_bytes += length;
    } else {
        ++st.file_tx_errors;
    }
}

void flood(Tox* tox, PeerState& st) {
    while (st.flooding) {
        Tox_Err_Friend_Custom_Packet err{};
        if (!tox_friend_send_lossless_packet(tox, st.flood_friend, st.packet.data(),
                                             st.packet.size(), &err)) {
            ++st.ll_blocked;  // SENDQ (queue full) or not connected: retry after tox_iterate
            return;
        }
        ++st.ll_tx_packets;
    }
}

/// Runs one Tox instance: `tox_iterate`, then the flood (if on), then a poll() of stdin for at
/// most tox_iteration_interval() ms (or --max-interval-ms), as a typical client loop does.
/// stdin: add_friend PK | delete_friend N | flood N | stop_flood | file_send N BYTES | stats |
/// quit (EOF too).
int tox_peer(const Args& args) {
    const auto o = netcrypto::testing::loopback_tox_options();
    if (!o) return 1;
    // --tcp-port N: also run c-toxcore's TCP relay there (its key is the DHT key);
    // --no-udp: TCP relays only (with --relay PORT:KEY, on 127.0.0.1).
    const auto tcp_port = static_cast<std::uint16_t>(args.number("--tcp-port", 0));
    tox_options_set_tcp_port(o.get(), tcp_port);
    if (args.has("--no-udp")) tox_options_set_udp_enabled(o.get(), false);
    Tox_Err_New err_new{};
    netcrypto::testing::ToxPtr tox(tox_new(o.get(), &err_new));
    if (!tox) {
        emit({{"event", "error"}, {"what", "tox_new"}, {"err", static_cast<int>(err_new)}});
        return 1;
    }
    PeerState st;
    randombytes_buf(st.pattern.data(), st.pattern.size());
    st.packet.fill(0x5A);
    st.packet[0] = kStreamId;
    tox_callback_self_connection_status(tox.get(), on_self_connection);
    tox_callback_friend_connection_status(tox.get(), on_friend_connection);
    tox_callback_friend_lossless_packet(tox.get(), on_lossless);
    tox_callback_file_recv(tox.get(), on_file_recv);
    tox_callback_file_recv_chunk(tox.get(), on_file_recv_chunk);
    tox_callback_file_chunk_request(tox.get(), on_file_chunk_request);

    for (const auto& f : args.all("--friend")) {
        auto pk = unhex32(f);
        if (!pk || tox_friend_add_norequest(tox.get(), pk->data(), nullptr) == UINT32_MAX) {
            return 2;
        }
    }
    for (const auto& b : args.all("--bootstrap")) {
        const auto colon = b.find(':');
        auto key = colon == std::string::npos ? std::nullopt : unhex32(b.substr(colon + 1));
        if (!key) return 2;
        const auto port = static_cast<std::uint16_t>(std::stoi(b.substr(0, colon)));
        if (!tox_bootstrap(tox.get(), "127.0.0.1", port, key->data(), nullptr)) return 2;
    }
    for (const auto& r : args.all("--relay")) {
        const auto colon = r.find(':');
        auto key = colon == std::string::npos ? std::nullopt : unhex32(r.substr(colon + 1));
        if (!key) return 2;
        const auto port = static_cast<std::uint16_t>(std::stoi(r.substr(0, colon)));
        if (!tox_add_tcp_relay(tox.get(), "127.0.0.1", port, key->data(), nullptr)) return 2;
    }
    const int max_interval = static_cast<int>(args.number("--max-interval-ms", -1));
    std::array<std::uint8_t, TOX_PUBLIC_KEY_SIZE> pk{};
    std::array<std::uint8_t, TOX_PUBLIC_KEY_SIZE> dht{};
    tox_self_get_public_key(tox.get(), pk.data());
    tox_self_get_dht_id(tox.get(), dht.data());
    emit({{"event", "ready"},
          {"public_key", hex(pk.data(), pk.size())},
          {"dht_public_key", hex(dht.data(), dht.size())},
          {"udp_port", tox_self_get_udp_port(tox.get(), nullptr)},
          {"tcp_port", tcp_port}});

    static constexpr std::array<const char*, 4> kPacketNames{"cookie_request", "cookie_response",
                                                             "handshake", "data"};
    std::array<bool, 4> reported{};
    LineReader in;
    bool running = true;
    while (running) {
        tox_iterate(tox.get(), &st);
        flood(tox.get(), st);
        for (std::size_t k = 0; k < 4; ++k) {
            const std::int64_t t = guard::g_first_ns[k].load();
            if (t != 0 && !reported[k]) {
                reported[k] = true;
                std::cout << json{{"event", "first_packet"},
                                  {"type", kPacketNames[k]},
                                  {"to_port", guard::g_first_port[k].load()},
                                  {"t_ns", t}}
                                 .dump()
                          << std::endl;
            }
        }
        guard::g_loop_iterations.fetch_add(1);
        int wait = static_cast<int>(tox_iteration_interval(tox.get()));
        if (max_interval >= 0) wait = std::min(wait, max_interval);
        pollfd p{STDIN_FILENO, POLLIN, 0};
        ::poll(&p, 1, wait);
        std::vector<std::string> lines;
        if (!in.read(lines)) running = false;
        for (const auto& line : lines) {
            const auto w = words(line);
            if (w.empty()) continue;
            const std::string& c = w[0];
            if (c == "quit") {
                running = false;
            } else if (c == "add_friend" && w.size() == 2) {
                auto key = unhex32(w[1]);
                Tox_Err_Friend_Add e{};
                const std::uint32_t f =
                    key ? tox_friend_add_norequest(tox.get(), key->data(), &e) : UINT32_MAX;
                emit({{"event", "friend_added"}, {"friend", f}, {"ok", f != UINT32_MAX}});
            } else if (c == "delete_friend" && w.size() == 2) {
                const auto f = static_cast<std::uint32_t>(std::stoul(w[1]));
                emit({{"event", "friend_deleted"},
                      {"friend", f},
                      {"ok", tox_friend_delete(tox.get(), f, nullptr)}});
            } else if (c == "flood" && w.size() == 2) {
                st.flood_friend = static_cast<std::uint32_t>(std::stoul(w[1]));
                st.flooding = true;
                emit({{"event", "flood_started"}});
                flood(tox.get(), st);
            } else if (c == "stop_flood") {
                st.flooding = false;
                emit({{"event", "flood_stopped"}});
            } else if (c == "file_send" && w.size() == 3) {
                const auto f = static_cast<std::uint32_t>(std::stoul(w[1]));
                const std::uint64_t size = std::stoull(w[2]);
                static constexpr char kName[] = "bench.bin";
                Tox_Err_File_Send e{};
                const std::uint32_t file = tox_file_send(
                    tox.get(), f, TOX_FILE_KIND_DATA, size, nullptr,
                    reinterpret_cast<const std::uint8_t*>(kName), sizeof(kName) - 1, &e);
                emit({{"event", "file_send"},
                      {"ok", file != UINT32_MAX},
                      {"err", static_cast<int>(e)}});
            } else if (c == "stats") {
                emit({{"event", "stats"},
                      {"ll_rx_bytes", st.ll_rx_bytes},
                      {"ll_rx_packets", st.ll_rx_packets},
                      {"ll_tx_packets", st.ll_tx_packets},
                      {"ll_blocked", st.ll_blocked},
                      {"file_rx_bytes", st.file_rx_bytes},
                      {"file_rx_chunks", st.file_rx_chunks},
                      {"file_tx_bytes", st.file_tx_bytes},
                      {"file_tx_errors", st.file_tx_errors},
                      {"refused_sends", guard::refused()},
                      {"sent_datagrams", guard::g_sent_datagrams.load()},
                      {"sent_bytes", guard::g_sent_bytes.load()},
                      {"sent_data_packets", guard::g_sent_data_packets.load()},
                      {"sent_data_bytes", guard::g_sent_data_bytes.load()},
                      {"loop_iterations", guard::g_loop_iterations.load()}});
            } else {
                emit({{"event", "error"}, {"what", "unknown command: " + line}});
            }
        }
    }
    emit({{"event", "exit"}, {"refused_sends", guard::refused()}});
    return 0;
}

// --- driver helpers ------------------------------------------------------------------------------

/// A started tox-peer child and what its `ready` line said.
struct TPeer {
    std::unique_ptr<Child> child;
    json ready;
    std::int64_t ready_ns = 0;
    [[nodiscard]] std::string pk() const { return ready.at("public_key"); }
    [[nodiscard]] std::string dht() const { return ready.at("dht_public_key"); }
    [[nodiscard]] int port() const { return ready.at("udp_port"); }
};

TPeer start_peer(const std::string& label, const std::vector<std::string>& extra) {
    std::vector<std::string> a{"tox-peer"};
    a.insert(a.end(), extra.begin(), extra.end());
    TPeer p;
    p.child = std::make_unique<Child>(self_exe(), a, label);
    auto r = p.child->wait_for("ready", 20);
    if (!r) throw std::runtime_error(label + ": c-toxcore instance did not start");
    p.ready = *r;
    p.ready_ns = r->at("t_ns");
    return p;
}

std::optional<std::int64_t> udp_time(const Child& c, std::size_t from = 0) {
    auto i = c.find("friend_connection", from,
                    [](const json& j) { return j.value("status", "") == "udp"; });
    if (!i) return std::nullopt;
    return c.events()[*i].at("t_ns").get<std::int64_t>();
}

std::optional<std::int64_t> first_packet(const Child& c, const std::string& type) {
    auto i = c.find("first_packet", 0, [&](const json& j) { return j.value("type", "") == type; });
    if (!i) return std::nullopt;
    return c.events()[*i].at("t_ns").get<std::int64_t>();
}

void sleep_s(double s) { ::usleep(static_cast<useconds_t>(s * 1e6)); }

// --- ctox: c-toxcore ↔ c-toxcore -----------------------------------------------------------------

struct Pair {
    TPeer a;
    TPeer b;
    std::int64_t t_add = 0;  ///< A added B: from now on both know each other's long-term key
};

/// A (no bootstrap) and B (bootstrapped to A, A as friend from the start); then A adds B.
Pair start_pair(const std::string& name) {
    Pair p;
    p.a = start_peer(name + "-A", {});
    p.b = start_peer(name + "-B", {"--bootstrap", std::to_string(p.a.port()) + ":" + p.a.dht(),
                                   "--friend", p.a.pk()});
    p.t_add = p.a.child->request("add_friend " + p.b.pk(), "friend_added").at("t_ns");
    return p;
}

json pair_connect_result(Pair& p, double timeout_s) {
    const std::int64_t deadline = mono_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    std::optional<std::int64_t> ua;
    std::optional<std::int64_t> ub;
    while (mono_ns() < deadline && (!ua || !ub)) {
        p.a.child->drain();
        p.b.child->drain();
        ua = udp_time(*p.a.child);
        ub = udp_time(*p.b.child);
        if (!ua || !ub) sleep_s(0.02);
    }
    if (!ua || !ub) return json{{"connected", false}};
    const std::int64_t up = std::max(*ua, *ub);
    std::optional<std::int64_t> first_cr;
    for (auto* c : {p.a.child.get(), p.b.child.get()}) {
        if (auto t = first_packet(*c, "cookie_request"); t && (!first_cr || *t < *first_cr)) {
            first_cr = t;
        }
    }
    json j{{"connected", true},
           {"add_to_udp_ms", static_cast<double>(up - p.t_add) / 1e6},
           {"a_udp_ms", static_cast<double>(*ua - p.t_add) / 1e6},
           {"b_udp_ms", static_cast<double>(*ub - p.t_add) / 1e6}};
    if (first_cr) {
        j["add_to_first_cookie_request_ms"] = static_cast<double>(*first_cr - p.t_add) / 1e6;
        j["first_cookie_request_to_udp_ms"] = static_cast<double>(up - *first_cr) / 1e6;
    }
    return j;
}

json cpu_pair(const TPeer& s, const TPeer& r, double s0, double r0, double gb) {
    const double ds = proc_cpu_seconds(s.child->pid()) - s0;
    const double dr = proc_cpu_seconds(r.child->pid()) - r0;
    return json{{"cpu_sender_s", ds},
                {"cpu_receiver_s", dr},
                {"cpu_s_per_gb_sender", gb > 0 ? ds / gb : 0},
                {"cpu_s_per_gb_receiver", gb > 0 ? dr / gb : 0}};
}

/// idle: two c-toxcore instances, friends of each other and connected over UDP, left idle for
/// `--seconds`: what each one sends (net_crypto data packets, i.e. request/ping/keepalive
/// traffic, and all datagrams including DHT and onion upkeep) and how often its loop wakes.
int idle(const Args& args) {
    const double seconds = args.number("--seconds", 60);
    Pair p = start_pair("idle");
    json connect = pair_connect_result(p, 90);
    json out{{"connect", connect}, {"seconds", seconds}};
    if (!connect.value("connected", false)) {
        out["error"] = "the c-toxcore pair did not connect within 90 s";
        std::cout << out.dump() << std::endl;
        return 1;
    }
    sleep_s(5);  // let the friend layers settle (ONLINE, nickname, status exchanges)
    const json a0 = p.a.child->request("stats", "stats");
    const json b0 = p.b.child->request("stats", "stats");
    sleep_s(seconds);
    const json a1 = p.a.child->request("stats", "stats");
    const json b1 = p.b.child->request("stats", "stats");
    auto per_minute = [seconds](const json& j0, const json& j1, const char* key) {
        return (j1.at(key).get<double>() - j0.at(key).get<double>()) * 60.0 / seconds;
    };
    for (const auto& [name, j0, j1] : {std::tuple{"a", a0, a1}, std::tuple{"b", b0, b1}}) {
        out[name] = json{{"data_packets_per_minute", per_minute(j0, j1, "sent_data_packets")},
                         {"data_bytes_per_minute", per_minute(j0, j1, "sent_data_bytes")},
                         {"datagrams_per_minute", per_minute(j0, j1, "sent_datagrams")},
                         {"bytes_per_minute", per_minute(j0, j1, "sent_bytes")},
                         {"wakeups_per_minute", per_minute(j0, j1, "loop_iterations")}};
    }
    p.a.child->stop();
    p.b.child->stop();
    std::cout << out.dump() << std::endl;
    return 0;
}

int ctox(const Args& args) {
    const double seconds = args.number("--seconds", 10);
    const auto file_bytes = static_cast<std::uint64_t>(args.number("--file-bytes", 64 << 20));
    // Two independent pairs (separate DHTs) discover each other at the same time: two connect
    // samples, and a fresh pair for each transfer (a flood leaves c-toxcore's send queue full).
    Pair p1 = start_pair("ctox1");
    Pair p2 = start_pair("ctox2");
    json connect = json::array({pair_connect_result(p1, 90), pair_connect_result(p2, 90)});
    json out{{"connect", connect}};
    if (!connect[0].value("connected", false) || !connect[1].value("connected", false)) {
        out["error"] = "a c-toxcore pair did not connect within 90 s";
        std::cout << out.dump() << std::endl;
        return 1;
    }
    sleep_s(1);  // let the friend layers settle (online packets, avatars off)
    out["rss_one_friend_connected_bytes"] =
        json::array({proc_rss_bytes(p1.a.child->pid()), proc_rss_bytes(p1.b.child->pid()),
                     proc_rss_bytes(p2.a.child->pid()), proc_rss_bytes(p2.b.child->pid())});

    // Custom lossless packets A → B, as fast as tox_friend_send_lossless_packet accepts.
    {
        TPeer& s = p1.a;
        TPeer& r = p1.b;
        const double s0 = proc_cpu_seconds(s.child->pid());
        const double r0 = proc_cpu_seconds(r.child->pid());
        const json st0 = r.child->request("stats", "stats");
        s.child->request("flood 0", "flood_started");
        sleep_s(seconds);
        const json st1 = r.child->request("stats", "stats");
        const double dt = static_cast<double>(st1.at("t_ns").get<std::int64_t>() -
                                              st0.at("t_ns").get<std::int64_t>()) *
                          1e-9;
        const double bytes =
            st1.at("ll_rx_bytes").get<double>() - st0.at("ll_rx_bytes").get<double>();
        const double packets =
            st1.at("ll_rx_packets").get<double>() - st0.at("ll_rx_packets").get<double>();
        json j = cpu_pair(s, r, s0, r0, bytes / 1e9);
        const json tx = s.child->request("stop_flood", "flood_stopped");
        j.update(json{{"what", "c-toxcore -> c-toxcore, custom lossless id 160, 1373-byte packets"},
                      {"seconds", dt},
                      {"bytes", bytes},
                      {"packets", packets},
                      {"mb_per_s", bytes / dt / 1e6},
                      {"packets_per_s", packets / dt},
                      {"sender_stats", s.child->request("stats", "stats")}});
        out["lossless"] = j;
        p1.a.child->stop();
        p1.b.child->stop();
    }

    // One file of file_bytes C → D (tox_file_send; chunks served from the chunk-request
    // callback, the receiver resumes at once), for at most `seconds`.
    {
        TPeer& s = p2.a;
        TPeer& r = p2.b;
        const double s0 = proc_cpu_seconds(s.child->pid());
        const double r0 = proc_cpu_seconds(r.child->pid());
        const std::size_t mark = r.child->events().size();
        const json started =
            s.child->request("file_send 0 " + std::to_string(file_bytes), "file_send");
        const std::int64_t t0 = started.at("t_ns");
        const std::int64_t end = t0 + static_cast<std::int64_t>(seconds * 1e9);
        std::optional<json> done;
        while (mono_ns() < end && !done) {
            done = r.child->wait_for("file_done", 0.05, mark);
        }
        json last = r.child->request("stats", "stats");
        const std::int64_t t1 =
            done ? done->at("t_ns").get<std::int64_t>() : last.at("t_ns").get<std::int64_t>();
        const double dt = static_cast<double>(t1 - t0) * 1e-9;
        const double bytes = last.at("file_rx_bytes").get<double>();
        const double chunks = last.at("file_rx_chunks").get<double>();
        json j = cpu_pair(s, r, s0, r0, bytes / 1e9);
        j.update(json{{"what", "c-toxcore -> c-toxcore, tox_file_send"},
                      {"file_bytes", file_bytes},
                      {"completed", done.has_value()},
                      {"seconds", dt},
                      {"bytes", bytes},
                      {"packets", chunks},
                      {"mb_per_s", bytes / dt / 1e6},
                      {"packets_per_s", chunks / dt},
                      {"sender_stats", s.child->request("stats", "stats")}});
        out["file"] = j;
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

// --- netcrypto endpoints as friends of a c-toxcore peer
// -------------------------------------------

/// One of our endpoints with its friend layer, bound to its own loopback socket.
struct NcFriend {
    explicit NcFriend(Rng& rng)
        : ep(KeyPair::generate(rng), KeyPair::generate(rng), rng, runtime::monotonic_now()),
          fl(ep, {}) {}
    Endpoint ep;
    friends::FriendLayer fl;
    std::int64_t up_ns = 0;
    bool closed = false;
    std::optional<ConnectionId> id;
};

void attach(runtime::Loop& loop, NcFriend& f) {
    auto r = loop.attach(f.ep, Address::ipv4(127, 0, 0, 1, 0), [&f](const Event& e) {
        const auto* s = e.get_if<StatusChanged>();
        if (s != nullptr && s->to == Status::kEstablished) f.up_ns = mono_ns();
        if (s != nullptr && s->to == Status::kClosed) f.closed = true;
        f.fl.on_event(runtime::monotonic_now(), e);
    });
    if (!r) throw std::runtime_error("bind 127.0.0.1: " + r.error());
}

/// Runs the loop (and the friend layers' timers) until `done` or `timeout_s`.
bool run_until(runtime::Loop& loop, std::vector<std::unique_ptr<NcFriend>>& fs,
               const std::function<bool()>& done, double timeout_s) {
    const std::int64_t deadline = mono_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    while (!done()) {
        if (mono_ns() >= deadline) return false;
        loop.run_once(10ms);
        const Instant now = runtime::monotonic_now();
        for (auto& f : fs) {
            if (auto t = f->fl.next_timeout(); t && *t <= now) f->fl.on_timeout(now);
        }
    }
    return true;
}

void connect_friend(NcFriend& f, const TPeer& peer) {
    const auto pk = unhex32(peer.pk());
    const auto dht = unhex32(peer.dht());
    auto id = f.ep.connect(runtime::monotonic_now(), to_key(*pk), to_key(*dht),
                           Address::ipv4(127, 0, 0, 1, static_cast<std::uint16_t>(peer.port())));
    if (!id) throw std::runtime_error("connect: " + std::string(to_string(id.error())));
    f.id = *id;
}

/// Our endpoint connects to a c-toxcore peer that has our key as a friend; connect() →
/// Established on our side, and → c-toxcore's friend_connection "udp".
int nc_connect(const Args& args) {
    const int runs = static_cast<int>(args.number("--runs", 20));
    const std::string max_interval = args.get("--max-interval-ms");
    std::vector<std::string> extra;
    if (!max_interval.empty()) extra = {"--max-interval-ms", max_interval};
    TPeer peer = start_peer("ctox-E", extra);
    SodiumRng rng;
    std::vector<double> ours;
    std::vector<double> theirs;
    for (int run = 0; run < runs; ++run) {
        runtime::Loop loop;
        std::vector<std::unique_ptr<NcFriend>> fs;
        fs.push_back(std::make_unique<NcFriend>(rng));
        NcFriend& f = *fs.back();
        attach(loop, f);
        const json added = peer.child->request(
            "add_friend " + hex(f.ep.public_key().bytes.data(), 32), "friend_added");
        const auto number = added.at("friend").get<std::uint32_t>();
        const std::size_t mark = peer.child->events().size();
        const std::int64_t t0 = mono_ns();
        connect_friend(f, peer);
        const bool up = run_until(
            loop, fs, [&] { return f.up_ns != 0 || f.closed; }, 5);
        auto udp = peer.child->wait_for("friend_connection", 2, mark, [&](const json& j) {
            return j.value("friend", UINT32_MAX) == number && j.value("status", "") == "udp";
        });
        if (up && f.up_ns != 0) ours.push_back(static_cast<double>(f.up_ns - t0) / 1e6);
        if (udp)
            theirs.push_back(static_cast<double>(udp->at("t_ns").get<std::int64_t>() - t0) / 1e6);
        (void)f.ep.close(runtime::monotonic_now(), *f.id);
        loop.flush();
        peer.child->request("delete_friend " + std::to_string(number), "friend_deleted");
    }
    json out{{"what", "netcrypto endpoint -> c-toxcore instance (friend added), loopback UDP"},
             {"max_interval_ms", max_interval.empty() ? json(nullptr) : json(max_interval)},
             {"ours_established_ms", summary(ours)},
             {"ctox_udp_ms", summary(theirs)}};
    std::cout << out.dump() << std::endl;
    return 0;
}

/// RSS of one c-toxcore instance as netcrypto friends are added (tox_friend_add_norequest)
/// and then connect to it, in steps of 1, 2, 4, … max friends.
int memory(const Args& args) {
    const int max_friends = static_cast<int>(args.number("--max-friends", 32));
    TPeer peer = start_peer("ctox-F", {});
    SodiumRng rng;
    runtime::Loop loop;
    std::vector<std::unique_ptr<NcFriend>> fs;
    run_until(
        loop, fs, [] { return false; }, 1.0);  // settle
    const std::uint64_t rss0 = proc_rss_bytes(peer.child->pid());
    json steps = json::array();
    std::vector<double> ks;
    std::vector<double> rss_conn;
    double conn_bytes_sum = 0;
    double conn_count_sum = 0;
    for (int k = 1; k <= max_friends; k *= 2) {
        const std::size_t before = fs.size();
        while (fs.size() < static_cast<std::size_t>(k)) {
            fs.push_back(std::make_unique<NcFriend>(rng));
            attach(loop, *fs.back());
            peer.child->request("add_friend " + hex(fs.back()->ep.public_key().bytes.data(), 32),
                                "friend_added");
        }
        run_until(
            loop, fs, [] { return false; }, 0.5);
        const std::uint64_t added = proc_rss_bytes(peer.child->pid());
        for (std::size_t i = before; i < fs.size(); ++i) connect_friend(*fs[i], peer);
        const bool all_up = run_until(
            loop, fs,
            [&] {
                return std::all_of(fs.begin(), fs.end(), [](const auto& f) { return f->up_ns; });
            },
            20);
        run_until(
            loop, fs, [] { return false; }, 1.0);  // idle
        const std::uint64_t connected = proc_rss_bytes(peer.child->pid());
        steps.push_back(json{{"friends", k},
                             {"all_established", all_up},
                             {"rss_friends_added", added},
                             {"rss_connected", connected}});
        ks.push_back(k);
        rss_conn.push_back(static_cast<double>(connected));
        conn_bytes_sum += static_cast<double>(connected) - static_cast<double>(added);
        conn_count_sum += static_cast<double>(fs.size() - before);
    }
    const double per_connection = conn_count_sum > 0 ? conn_bytes_sum / conn_count_sum : 0;
    const double per_friend_total = slope(ks, rss_conn);
    json out{{"what",
              "RSS (VmRSS) of one c-toxcore 0.2.18 process; the friends are netcrypto "
              "endpoints connecting directly over loopback UDP"},
             {"rss_start", rss0},
             {"steps", steps},
             {"rss_per_connected_friend_bytes", per_friend_total},
             {"rss_per_connection_bytes", per_connection},
             {"rss_per_friend_entry_bytes", per_friend_total - per_connection}};
    if (steps.size() >= 2) {
        out["rss_delta_1_to_2_connected_bytes"] =
            steps[1].at("rss_connected").get<double>() - steps[0].at("rss_connected").get<double>();
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

int usage() {
    std::cerr << "usage: tox_compare ctox|idle|nc-connect|memory|tox-peer [options]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    if (sodium_init() < 0) return 1;
    ::signal(SIGPIPE, SIG_IGN);
    const std::string cmd = argv[1];
    const Args args(argc, argv, 2);
    try {
        if (cmd == "tox-peer") return tox_peer(args);
        if (cmd == "ctox") return ctox(args);
        if (cmd == "idle") return idle(args);
        if (cmd == "nc-connect") return nc_connect(args);
        if (cmd == "memory") return memory(args);
    } catch (const std::exception& e) {
        std::cerr << "tox_compare " << cmd << ": " << e.what() << std::endl;
        return 1;
    }
    return usage();
}
