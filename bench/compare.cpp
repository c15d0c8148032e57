// netcrypto_compare: the netcrypto measurements of bench/compare.sh, and its report.
//
//   netcrypto_compare connect --runs N          connect() → both Established, loopback UDP
//   netcrypto_compare throughput --seconds S    bulk lossless, sender and receiver processes
//   netcrypto_compare memory --connections N    heap per idle Established connection
//   netcrypto_compare handshake-ops --runs N    X25519 operations and CPU per handshake
//   netcrypto_compare report --dir DIR          Markdown tables from the JSON results in DIR
//   netcrypto_compare nc-peer --role send|recv  (child of `throughput`)
//
// Every measuring subcommand prints one JSON object on stdout; diagnostics go to stderr.
// The program is linked with -Wl,--wrap for libsodium's X25519 entry points (see
// bench/CMakeLists.txt), so `handshake-ops` counts the scalar multiplications the library
// really performs rather than a number derived from reading the code.
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <malloc.h>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <vector>

#include <sodium.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "compare_common.hpp"
#include "compare_relay.hpp"
#include "compare_report.hpp"
#include "compare_scale.hpp"

// --- X25519 call counters ---------------------------------------------------------------------
//
// Variable-base scalar multiplications (crypto_box_beforenm, crypto_scalarmult and the
// non-afternm crypto_box calls, which do one internally) and fixed-base ones
// (crypto_scalarmult_base, key pair generation). Only calls made from statically linked code
// (libnetcrypto.a and this program) are redirected by --wrap; libsodium's internal calls are
// counted at the entry point that caused them.
namespace {
std::uint64_t g_x25519_variable = 0;
std::uint64_t g_x25519_fixed = 0;
}  // namespace

extern "C" {
int __real_crypto_box_beforenm(unsigned char* k, const unsigned char* pk, const unsigned char* sk);
int __real_crypto_scalarmult(unsigned char* q, const unsigned char* n, const unsigned char* p);
int __real_crypto_scalarmult_base(unsigned char* q, const unsigned char* n);
int __real_crypto_box_keypair(unsigned char* pk, unsigned char* sk);
int __real_crypto_box_seed_keypair(unsigned char* pk, unsigned char* sk, const unsigned char* seed);
int __real_crypto_box_easy(unsigned char* c, const unsigned char* m, unsigned long long mlen,
                           const unsigned char* n, const unsigned char* pk,
                           const unsigned char* sk);
int __real_crypto_box_open_easy(unsigned char* m, const unsigned char* c, unsigned long long clen,
                                const unsigned char* n, const unsigned char* pk,
                                const unsigned char* sk);

int __wrap_crypto_box_beforenm(unsigned char* k, const unsigned char* pk, const unsigned char* sk) {
    ++g_x25519_variable;
    return __real_crypto_box_beforenm(k, pk, sk);
}
int __wrap_crypto_scalarmult(unsigned char* q, const unsigned char* n, const unsigned char* p) {
    ++g_x25519_variable;
    return __real_crypto_scalarmult(q, n, p);
}
int __wrap_crypto_scalarmult_base(unsigned char* q, const unsigned char* n) {
    ++g_x25519_fixed;
    return __real_crypto_scalarmult_base(q, n);
}
int __wrap_crypto_box_keypair(unsigned char* pk, unsigned char* sk) {
    ++g_x25519_fixed;
    return __real_crypto_box_keypair(pk, sk);
}
int __wrap_crypto_box_seed_keypair(unsigned char* pk, unsigned char* sk,
                                   const unsigned char* seed) {
    ++g_x25519_fixed;
    return __real_crypto_box_seed_keypair(pk, sk, seed);
}
int __wrap_crypto_box_easy(unsigned char* c, const unsigned char* m, unsigned long long mlen,
                           const unsigned char* n, const unsigned char* pk,
                           const unsigned char* sk) {
    ++g_x25519_variable;
    return __real_crypto_box_easy(c, m, mlen, n, pk, sk);
}
int __wrap_crypto_box_open_easy(unsigned char* m, const unsigned char* c, unsigned long long clen,
                                const unsigned char* n, const unsigned char* pk,
                                const unsigned char* sk) {
    ++g_x25519_variable;
    return __real_crypto_box_open_easy(m, c, clen, n, pk, sk);
}
}

namespace {

using namespace netcrypto;
using namespace netcrypto::bench;
using namespace std::chrono_literals;

Address loopback(std::uint16_t port = 0) { return Address::ipv4(127, 0, 0, 1, port); }

/// "a.b.c.d" (default 127.0.0.1) with `port`.
Address ipv4(const std::string& text, std::uint16_t port) {
    unsigned a = 127, b = 0, c = 0, d = 1;
    if (!text.empty() && std::sscanf(text.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4) {
        throw std::runtime_error("bad IPv4 address: " + text);
    }
    return Address::ipv4(static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b),
                         static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(d), port);
}

std::string hex(const PublicKey& k) {
    std::string s;
    for (auto b : k.bytes) {
        static constexpr char kDigits[] = "0123456789abcdef";
        s += kDigits[b >> 4U];
        s += kDigits[b & 0xFU];
    }
    return s;
}

std::optional<PublicKey> parse_key(const std::string& h) {
    PublicKey k;
    if (h.size() != 64) return std::nullopt;
    for (std::size_t i = 0; i < 32; ++i) {
        k.bytes[i] = static_cast<std::uint8_t>(std::stoul(h.substr(2 * i, 2), nullptr, 16));
    }
    return k;
}

// --- nc-peer: one endpoint in its own process (child of `throughput`) --------------------------

/// `--role recv`: accepts everyone and reads every lossless message as it arrives.
/// `--role send --port P --peer PK --peer-dht DK`: connects to 127.0.0.1:P and, once
/// Established, queues full-size (1373-byte) lossless messages with id 160 as fast as
/// send_lossless accepts them (on kWouldBlock it waits for kWritable or kAcked).
/// stdin: `stats` → {"event":"stats",...}; `quit` or EOF ends the process.
/// `--offload 0` turns UDP GSO/GRO off; `--bind IP` binds there, `--host IP` is the peer's IP.
int nc_peer(const Args& args) {
    const bool sender = args.get("--role") == "send";
    SodiumRng rng;
    EndpointConfig cfg;
    cfg.accept_all = !sender;
    Endpoint ep(KeyPair::generate(rng), KeyPair::generate(rng), rng, runtime::monotonic_now(), cfg);
    runtime::Loop loop;
    std::uint64_t rx_bytes = 0;
    std::uint64_t rx_messages = 0;
    std::uint64_t tx_messages = 0;
    std::uint64_t would_block = 0;
    std::optional<ConnectionId> conn;
    bool blocked = false;
    std::array<std::uint8_t, kMaxMessageSize> buf{};
    auto on_event = [&](const Event& e) {
        switch (e.kind()) {
            case Event::Kind::kStatus: {
                const auto& s = *e.get_if<StatusChanged>();
                if (s.to == Status::kEstablished) {
                    conn = s.connection;
                    emit({{"event", "established"}});
                }
                if (s.to == Status::kClosed) {
                    emit({{"event", "closed"}, {"reason", std::string(to_string(s.reason))}});
                    loop.stop();
                }
                break;
            }
            case Event::Kind::kReadable: {
                const Instant now = runtime::monotonic_now();
                while (auto n = ep.read_lossless(now, *e.connection(), buf)) {
                    if (*n == 0) break;
                    rx_bytes += *n;
                    ++rx_messages;
                }
                break;
            }
            case Event::Kind::kWritable:
            case Event::Kind::kAcked:
                blocked = false;
                break;
            default:
                break;
        }
    };
    runtime::BindOptions bind_options;
    bind_options.udp_gso = bind_options.udp_gro = args.get("--offload", "1") != "0";
    bind_options.no_udp = args.has("--no-udp");
    auto bound = loop.attach(ep, ipv4(args.get("--bind"), 0), on_event, bind_options);
    if (!bound) {
        emit({{"event", "error"}, {"what", bound.error()}});
        return 1;
    }
    // --relay 127.0.0.1:PORT:KEY (repeatable): TCP relays, as the CLI's --relay.
    for (const auto& r : args.all("--relay")) {
        const auto colon = r.rfind(':');
        const auto address =
            colon == std::string::npos ? std::nullopt : Address::parse(r.substr(0, colon));
        const auto key = colon == std::string::npos ? std::nullopt : parse_key(r.substr(colon + 1));
        if (!address || !key) return 2;
        if (auto id = loop.add_relay(ep, *address, *key); !id) {
            emit({{"event", "error"}, {"what", id.error()}});
            return 1;
        }
    }
    LineReader in;
    auto r = loop.watch(STDIN_FILENO, EPOLLIN, [&](std::uint32_t) {
        std::vector<std::string> lines;
        const bool open = in.read(lines);
        for (const auto& line : lines) {
            if (line == "stats") {
                json j{{"event", "stats"},
                       {"rx_bytes", rx_bytes},
                       {"rx_messages", rx_messages},
                       {"tx_messages", tx_messages},
                       {"would_block", would_block}};
                const runtime::SocketStats ss = loop.stats(ep);
                j["socket"] = {{"datagrams_in", ss.datagrams_in},
                               {"datagrams_out", ss.datagrams_out},
                               {"send_calls", ss.send_calls},
                               {"receive_calls", ss.receive_calls},
                               {"gso", ss.gso},
                               {"gro", ss.gro},
                               {"gso_messages", ss.gso_messages},
                               {"gro_messages", ss.gro_messages},
                               {"gso_fallbacks", ss.gso_fallbacks},
                               {"rcvbuf", ss.receive_buffer_bytes},
                               {"sndbuf", ss.send_buffer_bytes}};
                for (RelayId id : ep.relays()) {
                    if (auto ri = ep.relay_info(id)) {
                        j["relays"].push_back({{"data_sent", ri->stats.data_sent},
                                               {"data_received", ri->stats.data_received},
                                               {"oob_sent", ri->stats.oob_sent},
                                               {"not_sent", ri->stats.not_sent},
                                               {"dropped", ri->stats.total_drops()},
                                               {"pending", ri->pending_write_bytes}});
                    }
                }
                if (conn) {
                    if (auto info = ep.info(*conn)) {
                        j["lossless_sent"] = info->stats.lossless_sent;
                        j["retransmissions"] = info->stats.retransmissions;
                        j["srtt_us"] =
                            std::chrono::duration<double, std::micro>(info->smoothed_rtt).count();
                    }
                }
                emit(j);
            } else if (line == "quit") {
                loop.stop();
            }
        }
        if (!open) loop.stop();
    });
    if (!r) return 1;
    emit({{"event", "ready"},
          {"port", bound->port},
          {"public_key", hex(ep.public_key())},
          {"dht_public_key", hex(ep.dht_public_key())}});
    if (sender) {
        const auto peer = parse_key(args.get("--peer"));
        const auto peer_dht = parse_key(args.get("--peer-dht"));
        const auto port = static_cast<std::uint16_t>(std::stoi(args.get("--port", "0")));
        if (!peer || !peer_dht) return 2;
        // Without --port the peer is reached through the relays only.
        const auto started = port == 0 ? ep.connect(runtime::monotonic_now(), *peer, *peer_dht)
                                       : ep.connect(runtime::monotonic_now(), *peer, *peer_dht,
                                                    ipv4(args.get("--host"), port));
        if (!started) return 1;
    }
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    msg.fill(0x5A);
    msg[0] = 160;
    while (!loop.stopped()) {
        if (sender && conn && !blocked) {
            const Instant now = runtime::monotonic_now();
            for (int i = 0; i < 256; ++i) {  // bounded, so sockets are served in between
                auto sent = ep.send_lossless(now, *conn, msg);
                if (!sent) {
                    if (sent.error() != Error::kWouldBlock) {
                        emit({{"event", "error"}, {"what", std::string(to_string(sent.error()))}});
                        return 1;
                    }
                    blocked = true;
                    ++would_block;
                    break;
                }
                ++tx_messages;
            }
        }
        loop.run_once(sender && conn && !blocked ? Duration::zero() : Duration(50ms));
    }
    return 0;
}

/// Measures a running nc-peer pair (the sender Established) for `seconds`: delivered bytes,
/// rates and each process's CPU per GB.
json measure_pair(Child& send, Child& recv, double seconds, const std::string& what) {
    const double cpu_s0 = proc_cpu_seconds(send.pid());
    const double cpu_r0 = proc_cpu_seconds(recv.pid());
    const json s0 = recv.request("stats", "stats");
    ::usleep(static_cast<useconds_t>(seconds * 1e6));
    const json s1 = recv.request("stats", "stats");
    const double cpu_s1 = proc_cpu_seconds(send.pid());
    const double cpu_r1 = proc_cpu_seconds(recv.pid());
    const json tx = send.request("stats", "stats");
    const double dt =
        static_cast<double>(s1.at("t_ns").get<std::int64_t>() - s0.at("t_ns").get<std::int64_t>()) *
        1e-9;
    const auto bytes = s1.at("rx_bytes").get<double>() - s0.at("rx_bytes").get<double>();
    const auto packets = s1.at("rx_messages").get<double>() - s0.at("rx_messages").get<double>();
    const double gb = bytes / 1e9;
    json out{{"what", what},
             {"seconds", dt},
             {"bytes", bytes},
             {"packets", packets},
             {"mb_per_s", bytes / dt / 1e6},
             {"packets_per_s", packets / dt},
             {"cpu_sender_s", cpu_s1 - cpu_s0},
             {"cpu_receiver_s", cpu_r1 - cpu_r0},
             {"cpu_s_per_gb_sender", gb > 0 ? (cpu_s1 - cpu_s0) / gb : 0},
             {"cpu_s_per_gb_receiver", gb > 0 ? (cpu_r1 - cpu_r0) / gb : 0},
             {"sender_stats", tx},
             {"receiver_stats", s1}};
    return out;
}

// --- throughput: two nc-peer processes over loopback -------------------------------------------

/// `--offload 0|1` for both peers; `--netns NS --send-ip IP --recv-ip IP` runs the receiver
/// in network namespace NS (through `ip netns exec`) bound to recv-ip, the sender on send-ip.
int throughput(const Args& args) {
    const double seconds = args.number("--seconds", 10);
    const std::string exe = self_exe();
    const std::string offload = args.get("--offload", "1");
    const std::string netns = args.get("--netns");
    std::vector<std::string> recv_args{"nc-peer", "--role", "recv", "--offload", offload};
    std::string recv_exe = exe;
    if (!netns.empty()) {
        recv_args.insert(recv_args.begin(), {"netns", "exec", netns, exe});
        recv_args.insert(recv_args.end(), {"--bind", args.get("--recv-ip")});
        recv_exe = "/usr/sbin/ip";
        if (!std::filesystem::exists(recv_exe)) recv_exe = "/sbin/ip";
    }
    Child recv(recv_exe, recv_args, "nc-recv");
    const auto ready = recv.wait_for("ready", 10);
    if (!ready) throw std::runtime_error("nc receiver did not start");
    Child send(exe,
               {"nc-peer", "--role", "send", "--port", std::to_string(ready->at("port").get<int>()),
                "--peer", ready->at("public_key").get<std::string>(), "--peer-dht",
                ready->at("dht_public_key").get<std::string>(), "--offload", offload, "--bind",
                args.get("--send-ip"), "--host", args.get("--recv-ip")},
               "nc-send");
    const auto est = send.wait_for("established", 10);
    if (!est) throw std::runtime_error("nc sender did not reach Established");
    // The window starts at Established, as for c-toxcore (slow start included).
    json out = measure_pair(send, recv, seconds,
                            "netcrypto -> netcrypto, custom lossless id 160, 1373-byte messages");
    out["offload"] = offload == "1";
    std::cout << out.dump() << std::endl;
    return 0;
}

// --- relay-throughput: through one c-toxcore TCP relay ------------------------------------------

/// `--tox PATH` (tox_compare), `--tcp-port P`, `--seconds S`: starts a c-toxcore relay
/// (tox_compare tox-peer --tcp-port P), measures its ceiling with two bare relay clients, then
/// netcrypto -> netcrypto with both peers UDP-less on that relay, in one run.
int relay_throughput(const Args& args) {
    const double seconds = args.number("--seconds", 10);
    const std::string port = args.get("--tcp-port", "33719");
    Child relay(args.get("--tox"), {"tox-peer", "--tcp-port", port}, "relay");
    const auto ready = relay.wait_for("ready", 10);
    if (!ready) throw std::runtime_error("the c-toxcore relay did not start");
    const std::string key_hex = ready->at("dht_public_key").get<std::string>();
    const auto key = parse_key(key_hex);
    if (!key) throw std::runtime_error("bad relay key");
    const auto tcp_port = static_cast<std::uint16_t>(std::stoi(port));
    json out{{"relay", {{"port", tcp_port}, {"key", key_hex}}}};
    out["ceiling"] = relay_ceiling(tcp_port, *key, seconds, kMaxDatagramSize, relay.pid());

    const std::string relay_arg = "127.0.0.1:" + port + ":" + key_hex;
    const std::string exe = self_exe();
    Child recv(exe, {"nc-peer", "--role", "recv", "--no-udp", "--relay", relay_arg}, "nc-recv");
    const auto up = recv.wait_for("ready", 10);
    if (!up) throw std::runtime_error("nc receiver did not start");
    Child send(exe,
               {"nc-peer", "--role", "send", "--no-udp", "--relay", relay_arg, "--peer",
                up->at("public_key").get<std::string>(), "--peer-dht",
                up->at("dht_public_key").get<std::string>()},
               "nc-send");
    if (!send.wait_for("established", 20)) {
        throw std::runtime_error("nc sender did not reach Established through the relay");
    }
    const double cpu_relay0 = proc_cpu_seconds(relay.pid());
    json nc = measure_pair(send, recv, seconds,
                           "netcrypto -> netcrypto through the relay, both UDP-less, 1373-byte "
                           "custom lossless messages");
    const double cpu_relay = proc_cpu_seconds(relay.pid()) - cpu_relay0;
    nc["cpu_relay_s"] = cpu_relay;
    out["netcrypto"] = nc;
    const double ceiling = out["ceiling"]["mb_per_s"].get<double>();
    out["ratio_to_ceiling"] = ceiling > 0 ? nc["mb_per_s"].get<double>() / ceiling : 0;
    std::cout << out.dump() << std::endl;
    return 0;
}

// --- connect: connect() → both Established over loopback UDP (one process, one loop) -----------

int connect_times(const Args& args) {
    const int runs = static_cast<int>(args.number("--runs", 50));
    std::vector<double> both;
    std::vector<double> initiator;
    SodiumRng rng;
    for (int run = 0; run < runs; ++run) {
        EndpointConfig cb;
        cb.accept_all = true;
        const Instant start = runtime::monotonic_now();
        Endpoint a(KeyPair::generate(rng), KeyPair::generate(rng), rng, start);
        Endpoint b(KeyPair::generate(rng), KeyPair::generate(rng), rng, start, cb);
        runtime::Loop loop;
        std::int64_t a_up = 0;
        std::int64_t b_up = 0;
        auto watch = [](std::int64_t& up) {
            return [&up](const Event& e) {
                const auto* s = e.get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) up = mono_ns();
            };
        };
        if (!loop.attach(a, loopback(), watch(a_up))) return 1;
        auto addr_b = loop.attach(b, loopback(), watch(b_up));
        if (!addr_b) return 1;
        const std::int64_t t0 = mono_ns();
        if (!a.connect(runtime::monotonic_now(), b.public_key(), b.dht_public_key(), *addr_b)) {
            return 1;
        }
        while ((a_up == 0 || b_up == 0) && mono_ns() - t0 < 5'000'000'000) {
            loop.run_once(100ms);
        }
        if (a_up == 0 || b_up == 0) {
            note("connect: a run did not reach Established within 5 s");
            continue;
        }
        both.push_back(static_cast<double>(std::max(a_up, b_up) - t0) / 1e6);
        initiator.push_back(static_cast<double>(a_up - t0) / 1e6);
    }
    json out{{"what", "netcrypto -> netcrypto, loopback UDP, both endpoints in one process"},
             {"both_established_ms", summary(both)},
             {"initiator_established_ms", summary(initiator)}};
    std::cout << out.dump() << std::endl;
    return 0;
}

// --- memory: heap of N idle Established connections of one endpoint ----------------------------

/// Bytes allocated by malloc right now (in-use chunks, headers included, plus mmapped blocks).
std::int64_t heap_in_use() {
    const struct mallinfo2 mi = ::mallinfo2();
    return static_cast<std::int64_t>(mi.uordblks + mi.hblkhd);
}

/// Moves every pending datagram between `s` (server) and `c` until both are quiet.
void pump(Instant now, Endpoint& s, const Address& sa, Endpoint& c, const Address& ca) {
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    for (int round = 0; round < 64; ++round) {
        bool moved = false;
        while (auto t = c.poll_transmit(now, buf)) {
            s.handle_datagram(now, ca, std::span<const std::uint8_t>(buf).first(t->size));
            moved = true;
        }
        while (auto t = s.poll_transmit(now, buf)) {
            if (t->destination == ca) {
                c.handle_datagram(now, sa, std::span<const std::uint8_t>(buf).first(t->size));
            }
            moved = true;
        }
        if (!moved) return;
    }
}

int memory(const Args& args) {
    const auto n = static_cast<std::size_t>(args.number("--connections", 1000));
    SeededRng rng(5);
    Instant now{std::chrono::seconds{1000}};
    EndpointConfig cfg;
    cfg.accept_all = true;
    cfg.cookie_rate_burst = 1e12;  // every client comes from 10.x: no rate limit here
    cfg.key_agreements_per_second = std::numeric_limits<double>::infinity();
    const Address saddr = Address::ipv4(10, 0, 0, 1, 1);
    // Warm the allocator and the library's statics, so the baseline is stable.
    { Endpoint warm(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg); }
    const std::int64_t m0 = heap_in_use();
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg);
    const std::int64_t m1 = heap_in_use();
    std::size_t failed = 0;
    for (std::size_t i = 0; i < n; ++i) {
        // One client at a time: it completes the handshake (both sides Established) and is
        // destroyed, so only the server's memory remains.
        const Address caddr = Address::ipv4(10, static_cast<std::uint8_t>(1 + (i >> 16U)),
                                            static_cast<std::uint8_t>((i >> 8U) & 0xFFU),
                                            static_cast<std::uint8_t>(i & 0xFFU), 7);
        auto client =
            std::make_unique<Endpoint>(KeyPair::generate(rng), KeyPair::generate(rng), rng, now);
        auto id = client->connect(now, server.public_key(), server.dht_public_key(), saddr);
        if (!id) return 1;
        pump(now, server, saddr, *client, caddr);
        bool up = false;
        while (auto e = client->poll_event()) {
            const auto* s = e->get_if<StatusChanged>();
            if (s != nullptr && s->to == Status::kEstablished) up = true;
        }
        if (!up) ++failed;
        while (server.poll_event()) {
        }
    }
    // Idle: 3 s without traffic (REQUEST timers fire; connections that moved no data for 2 s
    // give their buffers back). The clients are gone, so the REQUESTs go nowhere.
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    for (int step = 0; step < 12; ++step) {
        now += 250ms;
        server.handle_timeout(now);
        while (server.poll_transmit(now, buf)) {
        }
        while (server.poll_event()) {
        }
    }
    std::size_t established = 0;
    for (const ConnectionId id : server.connections()) {
        if (auto info = server.info(id); info && info->status == Status::kEstablished) {
            ++established;
        }
    }
    const std::int64_t m2 = heap_in_use();
    json out{{"connections", n},
             {"established", established},
             {"failed_handshakes", failed},
             {"endpoint_fixed_bytes", m1 - m0},
             {"connections_bytes", m2 - m1},
             {"bytes_per_connection",
              static_cast<double>(m2 - m1) / static_cast<double>(std::max<std::size_t>(n, 1))},
             {"method",
              "mallinfo2 (uordblks + hblkhd) delta of one process holding one server endpoint "
              "with N idle Established connections (clients destroyed after their handshake; 3 s "
              "idle); includes malloc chunk headers and the endpoint's per-connection tables"}};
    std::cout << out.dump() << std::endl;
    return 0;
}

// --- handshake-ops: X25519 operations and CPU per handshake -------------------------------------

struct SideCost {
    std::uint64_t variable = 0;
    std::uint64_t fixed = 0;
    double cpu_s = 0;
};

/// Runs `f` and charges its X25519 calls and thread CPU time to `side`.
template <class F>
void charge(SideCost& side, F&& f) {
    const std::uint64_t v0 = g_x25519_variable;
    const std::uint64_t f0 = g_x25519_fixed;
    const double c0 = thread_cpu_seconds();
    f();
    side.cpu_s += thread_cpu_seconds() - c0;
    side.variable += g_x25519_variable - v0;
    side.fixed += g_x25519_fixed - f0;
}

/// The same handshake as BM_HandshakesPerSecond (one responder, a new initiator each time,
/// everything in memory, single-threaded); the initiator's construction (its long-term and DHT
/// key pairs) is outside the count, as it is outside the benchmark's timed region.
int handshake_ops(const Args& args) {
    const int runs = static_cast<int>(args.number("--runs", 200));
    SeededRng rng(7);
    const Instant now{std::chrono::seconds{1000}};
    EndpointConfig cfg;
    cfg.accept_all = true;
    cfg.cookie_rate_burst = 1e12;
    cfg.key_agreements_per_second = std::numeric_limits<double>::infinity();
    Endpoint responder(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg);
    const Address raddr = Address::ipv4(10, 0, 0, 2, 2);
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    SideCost ini;
    SideCost res;
    int completed = 0;
    const std::uint64_t sanity_before = g_x25519_fixed;
    for (int run = 0; run < runs; ++run) {
        Endpoint initiator(KeyPair::generate(rng), KeyPair::generate(rng), rng, now);
        const auto port = static_cast<std::uint16_t>(run + 1);
        const Address iaddr = Address::ipv4(10, 1, static_cast<std::uint8_t>(port >> 8U),
                                            static_cast<std::uint8_t>(port & 0xFFU), 1);
        charge(ini, [&] {
            (void)initiator.connect(now, responder.public_key(), responder.dht_public_key(), raddr);
        });
        for (int round = 0; round < 16; ++round) {
            bool moved = false;
            for (;;) {
                std::optional<Transmit> t;
                charge(ini, [&] { t = initiator.poll_transmit(now, buf); });
                if (!t) break;
                moved = true;
                charge(res, [&] {
                    responder.handle_datagram(now, iaddr,
                                              std::span<const std::uint8_t>(buf).first(t->size));
                });
            }
            for (;;) {
                std::optional<Transmit> t;
                charge(res, [&] { t = responder.poll_transmit(now, buf); });
                if (!t) break;
                moved = true;
                charge(ini, [&] {
                    initiator.handle_datagram(now, raddr,
                                              std::span<const std::uint8_t>(buf).first(t->size));
                });
            }
            if (!moved) break;
        }
        bool up_i = false;
        bool up_r = false;
        charge(res, [&] {
            while (auto e = responder.poll_event()) {
                const auto* s = e->get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) up_r = true;
            }
        });
        charge(ini, [&] {
            while (auto e = initiator.poll_event()) {
                const auto* s = e->get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) up_i = true;
            }
        });
        if (up_i && up_r) ++completed;
    }
    if (g_x25519_fixed == sanity_before) {
        note("handshake-ops: the X25519 wrappers saw no call (was --wrap lost at link time?)");
        return 1;
    }
    const double n = completed > 0 ? completed : 1;
    auto side = [n](const SideCost& c) {
        return json{{"variable_base", static_cast<double>(c.variable) / n},
                    {"fixed_base", static_cast<double>(c.fixed) / n},
                    {"cpu_us", c.cpu_s / n * 1e6}};
    };
    json out{{"runs", runs},
             {"completed", completed},
             {"initiator", side(ini)},
             {"responder", side(res)},
             {"total", json{{"variable_base", static_cast<double>(ini.variable + res.variable) / n},
                            {"fixed_base", static_cast<double>(ini.fixed + res.fixed) / n},
                            {"cpu_us", (ini.cpu_s + res.cpu_s) / n * 1e6}}},
             {"method",
              "libsodium entry points wrapped at link time (-Wl,--wrap): crypto_box_beforenm, "
              "crypto_scalarmult, crypto_box_easy/open_easy count as variable-base; "
              "crypto_scalarmult_base and key pair generation as fixed-base"}};
    std::cout << out.dump() << std::endl;
    return 0;
}

int usage() {
    std::cerr
        << "usage: netcrypto_compare "
           "connect|throughput|relay-throughput|memory|handshake-ops|scale|idle|report|nc-peer "
           "[options]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    if (sodium_init() < 0) return 1;
    const std::string cmd = argv[1];
    const Args args(argc, argv, 2);
    try {
        if (cmd == "nc-peer") return nc_peer(args);
        if (cmd == "throughput") return throughput(args);
        if (cmd == "relay-throughput") return relay_throughput(args);
        if (cmd == "connect") return connect_times(args);
        if (cmd == "memory") return memory(args);
        if (cmd == "handshake-ops") return handshake_ops(args);
        if (cmd == "scale") return netcrypto::bench::scale(args);
        if (cmd == "idle") return netcrypto::bench::idle_cost(args);
        if (cmd == "report") return netcrypto::bench::report(args);
    } catch (const std::exception& e) {
        std::cerr << "netcrypto_compare " << cmd << ": " << e.what() << std::endl;
        return 1;
    }
    return usage();
}
