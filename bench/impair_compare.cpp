// netcrypto_impair: goodput and connect time through bench/impair.cpp (delay, bottleneck,
// drop-tail queue, random loss), netcrypto ↔ netcrypto and c-toxcore ↔ c-toxcore, for
// bench/impair.sh. Children: `impair` (the relay), `netcrypto_compare nc-peer` and
// `tox_compare tox-peer`, found next to this program.
//
//   netcrypto_impair goodput --impl nc|ctox --loss P [--seconds 10] [--seed S]
//       A → B custom lossless (id 160, 1373 bytes) as fast as the sender accepts, measured at
//       the receiver over `--seconds` from Established (c-toxcore: from the UDP connection).
//   netcrypto_impair connect --impl nc|ctox --loss P [--runs 50] [--parallel K]
//       time to Established through the relay (c-toxcore: friend added → UDP connection on
//       both sides, K pairs at a time, each with its own relay).
// Relay options for both: --delay-ms 25 --rate-mbit 100 (queue: one BDP).
// Prints one JSON object on stdout.
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compare_common.hpp"

namespace {

using namespace netcrypto::bench;

std::string g_dir;
std::vector<std::string> g_relay_opts;
double args_timeout = 120;  ///< --timeout: seconds a c-toxcore pair may take to connect

std::string sibling(const std::string& name) { return g_dir + "/" + name; }

void sleep_s(double s) { ::usleep(static_cast<useconds_t>(s * 1e6)); }

struct Relay {
    std::unique_ptr<Child> child;
    int port_a = 0;
    int port_b = 0;
    json stats() { return child->request("stats", "stats"); }
};

Relay start_relay(double loss, std::uint64_t seed, const std::vector<std::string>& ends) {
    std::vector<std::string> a{"--loss", std::to_string(loss), "--seed", std::to_string(seed)};
    a.insert(a.end(), g_relay_opts.begin(), g_relay_opts.end());
    a.insert(a.end(), ends.begin(), ends.end());
    Relay r;
    r.child = std::make_unique<Child>(sibling("impair"), a, "impair");
    const auto ready = r.child->wait_for("ready", 10);
    if (!ready) throw std::runtime_error("impair relay did not start");
    r.port_a = ready->at("port_a");
    r.port_b = ready->at("port_b");
    return r;
}

std::unique_ptr<Child> nc_peer(const std::vector<std::string>& extra, const std::string& label) {
    std::vector<std::string> a{"nc-peer"};
    a.insert(a.end(), extra.begin(), extra.end());
    return std::make_unique<Child>(sibling("netcrypto_compare"), a, label);
}

/// A nc-peer sender through the relay to `recv` (ready event); nullopt if not Established.
std::optional<double> nc_connect_once(const json& recv, const Relay& relay,
                                      std::unique_ptr<Child>& sender, double timeout_s) {
    sender = nc_peer({"--role", "send", "--port", std::to_string(relay.port_a), "--peer",
                      recv.at("public_key").get<std::string>(), "--peer-dht",
                      recv.at("dht_public_key").get<std::string>()},
                     "nc-send");
    const auto ready = sender->wait_for("ready", 10);
    const auto est = sender->wait_for("established", timeout_s);
    if (!ready || !est) return std::nullopt;
    return static_cast<double>(est->at("t_ns").get<std::int64_t>() -
                               ready->at("t_ns").get<std::int64_t>()) /
           1e6;
}

/// Receiver counters over `seconds`: bytes per second.
json measure(Child& receiver, const std::string& bytes_field, double seconds) {
    const json s0 = receiver.request("stats", "stats");
    sleep_s(seconds);
    const json s1 = receiver.request("stats", "stats");
    const double dt =
        static_cast<double>(s1.at("t_ns").get<std::int64_t>() - s0.at("t_ns").get<std::int64_t>()) *
        1e-9;
    const double bytes = s1.at(bytes_field).get<double>() - s0.at(bytes_field).get<double>();
    return json{{"seconds", dt},
                {"bytes", bytes},
                {"mb_per_s", bytes / dt / 1e6},
                {"mbit_per_s", bytes * 8 / dt / 1e6}};
}

json nc_goodput(double loss, std::uint64_t seed, double seconds) {
    auto recv = nc_peer({"--role", "recv"}, "nc-recv");
    const auto ready = recv->wait_for("ready", 10);
    if (!ready) throw std::runtime_error("nc receiver did not start");
    Relay relay = start_relay(loss, seed, {"--to-b", std::to_string(ready->at("port").get<int>())});
    std::unique_ptr<Child> sender;
    const auto ms = nc_connect_once(*ready, relay, sender, 30);
    if (!ms) return json{{"connected", false}};
    json j = measure(*recv, "rx_bytes", seconds);
    j["connect_ms"] = *ms;
    j["sender"] = sender->request("stats", "stats");
    j["relay"] = relay.stats();
    return j;
}

struct ToxPair {
    std::unique_ptr<Child> a;
    std::unique_ptr<Child> b;
    Relay relay;
    std::int64_t t_add = 0;
};

json wait_ready(Child& c) {
    const auto r = c.wait_for("ready", 20);
    if (!r) throw std::runtime_error(c.label() + ": c-toxcore instance did not start");
    return *r;
}

/// A (no bootstrap) and B, bootstrapped to A through the relay; A adds B, B has A.
ToxPair start_tox_pair(double loss, std::uint64_t seed) {
    ToxPair p;
    p.a = std::make_unique<Child>(sibling("tox_compare"), std::vector<std::string>{"tox-peer"},
                                  "ctox-A");
    const json ra = wait_ready(*p.a);
    p.relay = start_relay(loss, seed, {"--to-a", std::to_string(ra.at("udp_port").get<int>())});
    p.b = std::make_unique<Child>(
        sibling("tox_compare"),
        std::vector<std::string>{
            "tox-peer", "--bootstrap",
            std::to_string(p.relay.port_b) + ":" + ra.at("dht_public_key").get<std::string>(),
            "--friend", ra.at("public_key").get<std::string>()},
        "ctox-B");
    const json rb = wait_ready(*p.b);
    p.t_add = p.a->request("add_friend " + rb.at("public_key").get<std::string>(), "friend_added")
                  .at("t_ns");
    return p;
}

std::optional<std::int64_t> udp_at(const Child& c) {
    auto i = c.find("friend_connection", 0,
                    [](const json& j) { return j.value("status", "") == "udp"; });
    if (!i) return std::nullopt;
    return c.events()[*i].at("t_ns").get<std::int64_t>();
}

/// Waits until every pair is connected over UDP on both sides (or the timeout): ms each.
std::vector<std::optional<double>> wait_tox_connected(std::vector<ToxPair>& pairs,
                                                      double timeout_s) {
    const std::int64_t deadline = mono_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
    std::vector<std::optional<double>> out(pairs.size());
    for (;;) {
        bool all = true;
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            if (out[i]) continue;
            pairs[i].a->drain();
            pairs[i].b->drain();
            const auto ua = udp_at(*pairs[i].a);
            const auto ub = udp_at(*pairs[i].b);
            if (ua && ub) {
                out[i] = static_cast<double>(std::max(*ua, *ub) - pairs[i].t_add) / 1e6;
            } else {
                all = false;
            }
        }
        if (all || mono_ns() > deadline) return out;
        sleep_s(0.02);
    }
}

json ctox_goodput(double loss, std::uint64_t seed, double seconds) {
    std::vector<ToxPair> pairs;
    pairs.push_back(start_tox_pair(loss, seed));
    const auto ms = wait_tox_connected(pairs, args_timeout);
    if (!ms[0]) {
        json events = json::array();
        for (const auto* c : {pairs[0].a.get(), pairs[0].b.get()}) {
            for (const auto& e : c->events()) {
                if (e.value("event", "") != "stats") events.push_back(c->label() + ":" + e.dump());
            }
        }
        return json{{"connected", false}, {"relay", pairs[0].relay.stats()}, {"events", events}};
    }
    const auto connect_ms = ms[0];
    ToxPair& p = pairs[0];
    p.a->request("flood 0", "flood_started");
    json j = measure(*p.b, "ll_rx_bytes", seconds);
    p.a->request("stop_flood", "flood_stopped");
    j["connect_ms"] = *connect_ms;
    j["sender"] = p.a->request("stats", "stats");
    j["relay"] = p.relay.stats();
    return j;
}

/// Median and p99 over all runs, a run that never connected counting as longer than any
/// (reported as null with "beyond_timeout": the quantile is past the timeout).
json connect_summary(std::vector<double> ms, int runs, double timeout_s) {
    json j{{"runs", runs}, {"connected", ms.size()}, {"timeout_s", timeout_s}};
    if (!ms.empty()) j["max_connected_ms"] = *std::max_element(ms.begin(), ms.end());
    while (ms.size() < static_cast<std::size_t>(runs)) {
        ms.push_back(std::numeric_limits<double>::infinity());
    }
    for (const auto& [name, q] : {std::pair{"median_ms", 0.5}, std::pair{"p99_ms", 0.99}}) {
        const double v = quantile(ms, q);
        j[name] = v > timeout_s * 1e3 ? json(nullptr) : json(v);
    }
    return j;
}

/// One receiver, relay and sender per run (a receiver quits when its connection closes); the
/// relay's seed is `seed + run`, so every run meets a different but repeatable loss pattern.
json nc_connect(double loss, std::uint64_t seed, int runs) {
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        auto recv = nc_peer({"--role", "recv"}, "nc-recv");
        const auto ready = recv->wait_for("ready", 10);
        if (!ready) throw std::runtime_error("nc receiver did not start");
        const Relay relay = start_relay(loss, seed + static_cast<std::uint64_t>(i),
                                        {"--to-b", std::to_string(ready->at("port").get<int>())});
        std::unique_ptr<Child> sender;
        if (auto t = nc_connect_once(*ready, relay, sender, 30)) ms.push_back(*t);
    }
    return connect_summary(ms, runs, 30);
}

json ctox_connect(double loss, std::uint64_t seed, int runs, int parallel, double timeout_s) {
    std::vector<double> ms;
    for (int done = 0; done < runs;) {
        const int k = std::min(parallel, runs - done);
        std::vector<ToxPair> pairs;
        for (int i = 0; i < k; ++i) {
            pairs.push_back(start_tox_pair(loss, seed + static_cast<std::uint64_t>(done + i)));
        }
        for (const auto& t : wait_tox_connected(pairs, timeout_s)) {
            if (t) ms.push_back(*t);
        }
        done += k;
    }
    return connect_summary(ms, runs, timeout_s);
}

int usage() {
    std::cerr << "usage: netcrypto_impair goodput|connect --impl nc|ctox --loss P [--seconds S] "
                 "[--runs N] [--parallel K] [--seed S] [--delay-ms D] [--rate-mbit R]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    ::signal(SIGPIPE, SIG_IGN);
    g_dir = std::filesystem::path(self_exe()).parent_path().string();
    const std::string cmd = argv[1];
    const Args args(argc, argv, 2);
    g_relay_opts = {"--delay-ms", args.get("--delay-ms", "25"), "--rate-mbit",
                    args.get("--rate-mbit", "100")};
    const std::string impl = args.get("--impl", "nc");
    const double loss = args.number("--loss", 0);
    const auto seed = static_cast<std::uint64_t>(args.number("--seed", 1));
    args_timeout = args.number("--timeout", 120);
    try {
        json out{{"impl", impl},
                 {"loss", loss},
                 {"delay_ms", args.number("--delay-ms", 25)},
                 {"rate_mbit", args.number("--rate-mbit", 100)}};
        if (cmd == "goodput") {
            const double seconds = args.number("--seconds", 10);
            out["goodput"] =
                impl == "nc" ? nc_goodput(loss, seed, seconds) : ctox_goodput(loss, seed, seconds);
        } else if (cmd == "connect") {
            const int runs = static_cast<int>(args.number("--runs", 50));
            out["connect"] =
                impl == "nc"
                    ? nc_connect(loss, seed, runs)
                    : ctox_connect(loss, seed, runs,
                                   static_cast<int>(args.number("--parallel", 10)), args_timeout);
        } else {
            return usage();
        }
        std::cout << out.dump() << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "netcrypto_impair " << cmd << ": " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
