// The Markdown report of bench/compare.sh: one table per question, then the targets as ratios.
// Every input is optional: a missing measurement is shown as "n/a" and its target as "not
// measured", never as met.
#include "compare_report.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace netcrypto::bench {

namespace {

std::optional<json> load(const std::filesystem::path& p) {
    std::ifstream f(p);
    if (!f) return std::nullopt;
    std::stringstream ss;
    ss << f.rdbuf();
    // The file may hold several lines (a subcommand's stdout); the result is the last object.
    std::optional<json> last;
    for (std::string line; std::getline(ss, line);) {
        json j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.is_object()) last = std::move(j);
    }
    if (!last) {
        // Pretty-printed (bench.json). Google Benchmark writes NaN for 0/0 counters (e.g. the
        // coefficient of variation of a counter that is always 0), which JSON does not allow.
        static const std::regex kNonFinite(R"((:\s*)-?(NaN|nan|inf|Infinity))");
        const std::string text = std::regex_replace(ss.str(), kNonFinite, "$1null");
        json j = json::parse(text, nullptr, false);
        if (!j.is_discarded() && j.is_object()) last = std::move(j);
    }
    return last;
}

/// A number at `path` ("a/b/c") of an optional JSON object.
std::optional<double> num(const std::optional<json>& j, const std::string& path) {
    if (!j) return std::nullopt;
    const json* cur = &*j;
    std::stringstream ss(path);
    for (std::string part; std::getline(ss, part, '/');) {
        if (cur->is_array()) {
            const auto i = static_cast<std::size_t>(std::stoul(part));
            if (i >= cur->size()) return std::nullopt;
            cur = &(*cur)[i];
        } else if (cur->is_object() && cur->contains(part)) {
            cur = &(*cur)[part];
        } else {
            return std::nullopt;
        }
    }
    if (!cur->is_number()) return std::nullopt;
    return cur->get<double>();
}

std::string f(std::optional<double> v, int decimals = 1, const std::string& unit = "") {
    if (!v || !std::isfinite(*v)) return "n/a";
    std::array<char, 64> b{};
    std::snprintf(b.data(), b.size(), "%.*f", decimals, *v);
    const std::string_view s = b.data();
    // thousands separators for the integer part
    const std::size_t digits_end = std::min(s.find('.'), s.size());
    const std::size_t digits_begin = !s.empty() && s[0] == '-' ? 1 : 0;
    std::string out(s.substr(0, digits_begin));
    for (std::size_t i = digits_begin; i < digits_end; ++i) {
        if (i > digits_begin && (digits_end - i) % 3 == 0) out.push_back(',');
        out.push_back(s[i]);
    }
    out.append(s.substr(digits_end));
    out.append(unit);
    return out;
}

std::optional<double> div(std::optional<double> a, std::optional<double> b) {
    if (!a || !b || *b == 0) return std::nullopt;
    return *a / *b;
}
std::optional<double> mul(std::optional<double> a, double k) {
    if (!a) return std::nullopt;
    return *a * k;
}

/// Google Benchmark results by name: the "median" aggregate when repetitions were run,
/// otherwise the single iteration entry.
class BenchResults {
  public:
    explicit BenchResults(const std::optional<json>& j) {
        if (!j || !j->contains("benchmarks")) return;
        for (const json& b : (*j)["benchmarks"]) {
            const std::string run_name = b.value("run_name", b.value("name", ""));
            const bool aggregate = b.value("run_type", "") == "aggregate";
            if (aggregate && b.value("aggregate_name", "") != "median") continue;
            if (!aggregate && by_name_.contains(run_name)) continue;  // keep the first
            by_name_[run_name] = b;
        }
    }
    /// A field of benchmark `name` (e.g. "items_per_second", "bytes_per_second").
    [[nodiscard]] std::optional<double> get(const std::string& name,
                                            const std::string& field) const {
        auto it = by_name_.find(name);
        if (it == by_name_.end() || !it->second.contains(field)) return std::nullopt;
        return it->second[field].get<double>();
    }
    /// CPU time per iteration in nanoseconds.
    [[nodiscard]] std::optional<double> cpu_ns(const std::string& name) const {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return std::nullopt;
        const std::string unit = it->second.value("time_unit", "ns");
        const double k = unit == "ns" ? 1 : unit == "us" ? 1e3 : unit == "ms" ? 1e6 : 1e9;
        return it->second["cpu_time"].get<double>() * k;
    }

  private:
    std::map<std::string, json> by_name_;
};

struct Target {
    std::string name;
    std::string measured;
    std::string ratio;   ///< the measured ratio, "n/a" if something is missing
    std::string needed;  ///< what the ratio must be
    std::optional<bool> met;
};

/// A target on `ratio`: at least (or at most) `threshold`; shown as "×" or as a percentage.
Target make_target(std::string name, std::string measured, std::optional<double> ratio,
                   bool at_least, double threshold, bool percent) {
    auto show = [percent](double v) { return percent ? f(v * 100, 0, " %") : f(v, 2, "×"); };
    Target t;
    t.name = std::move(name);
    t.measured = std::move(measured);
    t.ratio = ratio ? show(*ratio) : "n/a";
    t.needed = std::string(at_least ? "≥ " : "≤ ") + show(threshold);
    if (ratio) t.met = at_least ? *ratio >= threshold : *ratio <= threshold;
    return t;
}

std::string verdict(const std::optional<bool>& met) {
    if (!met) return "not measured";
    return *met ? "met" : "**MISSED**";
}

/// (f) per-packet cost vs libsodium and vs the number of connections; (g) a million
/// connections (whatever sizes the run measured: scale_N.json).
void scale_sections(const std::filesystem::path& dir, std::ostringstream& o,
                    std::vector<Target>& targets) {
    std::map<long, std::optional<json>> sc;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("scale_", 0) == 0 && name.size() > 11) {
            sc[std::stol(name.substr(6, name.size() - 11))] = load(e.path());
        }
    }
    if (sc.empty()) return;
    o << "## (f) CPU per received packet next to libsodium, 10 … "
      << f(static_cast<double>(sc.rbegin()->first), 0) << " connections\n\n"
      << "`netcrypto_compare scale --connections N`: one endpoint holding N Established "
         "connections "
         "whose peers are simulated in memory (distinct keys and addresses; each connection set up "
         "by a real handshake through the endpoint's public entry points, the peer's side done "
         "with "
         "the core's packet functions). Steady state: every connection first gets one packet of "
         "the kind, untimed (its first lossy message or lossless block is a one-time cost). "
         "Packets then come from the connections in a scattered order, "
         "back to back like a recvmmsg batch; the timed loop is `handle_datagram`, `poll_event` "
         "and "
         "reading the message (thread CPU time). libsodium = `crypto_box_open_easy_afternm` of the "
         "same ciphertext size, same process, same run. Allocations = `operator new` calls per "
         "packet in the timed loop.\n\n"
      << "| Connections | 100-byte lossy ns | ÷ libsodium ("
      << f(num(sc.begin()->second, "sodium_open_ns_lossy"), 0)
      << " ns) | ÷ at 10 | 1373-byte lossless ns | ÷ libsodium ("
      << f(num(sc.begin()->second, "sodium_open_ns_lossless"), 0)
      << " ns) | ÷ at 10 | allocations per packet (lossy / lossless) "
         "|\n|---|---|---|---|---|---|---|---|\n";
    const auto& base = sc.begin()->second;
    for (const auto& [n, j] : sc) {
        const auto lossy = num(j, "lossy/ns_per_packet");
        const auto ll = num(j, "lossless/ns_per_packet");
        o << "| " << f(static_cast<double>(n), 0) << " | " << f(lossy, 0) << " | "
          << f(div(lossy, num(j, "sodium_open_ns_lossy")), 2) << " | "
          << f(div(lossy, num(base, "lossy/ns_per_packet")), 2) << " | " << f(ll, 0) << " | "
          << f(div(ll, num(j, "sodium_open_ns_lossless")), 2) << " | "
          << f(div(ll, num(base, "lossless/ns_per_packet")), 2) << " | "
          << f(num(j, "lossy/allocations_per_packet"), 3) << " / "
          << f(num(j, "lossless/allocations_per_packet"), 3) << " |\n";
    }
    o << "\n## (g) Many connections: setup, memory, idle timers\n\n"
      << "| Connections | Established | setup CPU | µs per connection | heap per connection | RSS "
         "per "
         "connection | RSS total | idle wake-ups/min | idle timer CPU ms per second | ns per timer "
         "datagram | `handle_timeout` with nothing due "
         "|\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& [n, j] : sc) {
        o << "| " << f(static_cast<double>(n), 0) << " | " << f(num(j, "setup/established"), 0)
          << " | " << f(num(j, "setup/setup_cpu_seconds"), 1, " s") << " | "
          << f(num(j, "setup/setup_us_per_connection"), 0) << " | "
          << f(num(j, "setup/heap_per_connection"), 0, " B") << " | "
          << f(num(j, "setup/rss_per_connection"), 0, " B") << " | "
          << f(mul(num(j, "setup/rss_total_bytes"), 1.0 / (1 << 20)), 0, " MiB") << " | "
          << f(num(j, "idle/wakeups_per_minute"), 0) << " | "
          << f(num(j, "idle/cpu_ms_per_simulated_second"), 2) << " | "
          << f(num(j, "idle/ns_per_datagram"), 0) << " | "
          << f(num(j, "idle/empty_call_ns"), 1, " ns") << " |\n";
    }
    o << "\nSetup: connections come up spread over one second of simulated time; the simulated "
         "peers never answer (the server's `silence_timeout` is set to a year for the run), so "
         "\"idle\" is the server's own upkeep: one REQUEST per connection per `request_interval` "
         "(2 s), each sealed and queued. Timers are a min-heap with lazy invalidation: a wake-up "
         "costs what is due (the ns per datagram column), a wake-up with nothing due costs the "
         "same at every size (last column).\n\n";
    const long top = sc.rbegin()->first;
    const auto& big = sc.rbegin()->second;
    targets.push_back(
        make_target("100-byte lossy packet ≤ 1.3× libsodium's open at 10 connections",
                    f(num(base, "lossy/ns_per_packet"), 0, " ns") + " vs " +
                        f(num(base, "sodium_open_ns_lossy"), 0, " ns"),
                    div(num(base, "lossy/ns_per_packet"), num(base, "sodium_open_ns_lossy")), false,
                    1.3, false));
    targets.push_back(
        make_target("1373-byte lossless packet ≤ 1.3× libsodium's open at 10 connections",
                    f(num(base, "lossless/ns_per_packet"), 0, " ns") + " vs " +
                        f(num(base, "sodium_open_ns_lossless"), 0, " ns"),
                    div(num(base, "lossless/ns_per_packet"), num(base, "sodium_open_ns_lossless")),
                    false, 1.3, false));
    for (const char* kind : {"lossy", "lossless"}) {
        const std::string k = kind;
        const auto a = num(base, k + "/ns_per_packet");
        const auto b = num(big, k + "/ns_per_packet");
        targets.push_back(
            make_target("CPU per " + k + " packet at " + f(static_cast<double>(top), 0) +
                            " connections ≤ 1.10× at 10",
                        f(b, 0, " ns") + " vs " + f(a, 0, " ns"), div(b, a), false, 1.10, false));
    }
    const auto heap = num(big, "setup/heap_per_connection");
    targets.push_back(
        make_target("heap per Established connection ≤ 4 KiB at " + f(static_cast<double>(top), 0),
                    f(heap, 0, " B") + " vs 4,096 B", div(heap, 4096), false, 1.0, true));
    const auto rss = num(big, "setup/rss_per_connection");
    targets.push_back(
        make_target("RSS per Established connection ≤ 4 KiB at " + f(static_cast<double>(top), 0),
                    f(rss, 0, " B") + " vs 4,096 B", div(rss, 4096), false, 1.0, true));
    const auto e0 = num(base, "idle/empty_call_ns");
    const auto e1 = num(big, "idle/empty_call_ns");
    targets.push_back(make_target("`handle_timeout` with nothing due: same cost at " +
                                      f(static_cast<double>(top), 0) + " as at 10 (≤ 2×)",
                                  f(e1, 1, " ns") + " vs " + f(e0, 1, " ns"), div(e1, e0), false,
                                  2.0, false));
}

/// (h) the idle cost of one friend connection, netcrypto vs c-toxcore.
void idle_section(const std::filesystem::path& dir, std::ostringstream& o,
                  std::vector<Target>& targets) {
    const auto nc = load(dir / "nc_idle.json");
    const auto ct = load(dir / "ctox_idle.json");
    const auto s1k = load(dir / "scale_1000.json");
    if (!nc && !ct) return;
    o << "## (h) Idle cost of one Established friend connection\n\n"
      << "| Implementation | sent per minute (one side) | bytes per minute (UDP payload) | + "
         "IP/UDP headers "
         "| wake-ups per minute | How |\n|---|---|---|---|---|---|\n"
      << "| netcrypto (endpoint + friend layer) | " << f(num(nc, "a/datagrams_per_minute"), 1)
      << " | " << f(num(nc, "a/bytes_per_minute"), 0) << " | "
      << f(num(nc, "a/bytes_per_minute_with_ip_udp"), 0) << " | "
      << f(num(nc, "a/wakeups_per_minute"), 1)
      << " | `netcrypto_compare idle`: two endpoints in simulated time, "
      << f(num(nc, "minutes"), 0)
      << " min, 25 ms one-way delay, each woken only at its next deadline |\n"
      << "| c-toxcore 0.2.18, net_crypto data packets only | "
      << f(num(ct, "a/data_packets_per_minute"), 1) << " | "
      << f(num(ct, "a/data_bytes_per_minute"), 0) << " | "
      << f(mul(num(ct, "a/data_packets_per_minute"), 28), 0)
      << " + payload | — | `tox_compare idle`: "
      << "two c-toxcore processes on loopback, friends, connected, " << f(num(ct, "seconds"), 0)
      << " s idle; sendto interposed and counted |\n"
      << "| c-toxcore 0.2.18, every datagram (DHT, onion upkeep too) | "
      << f(num(ct, "a/datagrams_per_minute"), 1) << " | " << f(num(ct, "a/bytes_per_minute"), 0)
      << " | — | " << f(num(ct, "a/wakeups_per_minute"), 0)
      << " | same run; wake-ups = iterations of a loop sleeping `tox_iteration_interval()` |\n"
      << "| netcrypto endpoint with 1,000 idle connections | — | — | — | "
      << f(num(s1k, "idle/wakeups_per_minute"), 0)
      << " | `scale --connections 1000`, connections set up "
      << "over one second so their timers are spread |\n\n";
    const auto nb = num(nc, "a/bytes_per_minute");
    const auto cb = num(ct, "a/data_bytes_per_minute");
    targets.push_back(make_target(
        "idle friend connection: net_crypto bytes/min ≤ c-toxcore's (same run)",
        f(nb, 0, " B/min") + " vs " + f(cb, 0, " B/min"), div(nb, cb), false, 1.0, false));
    const auto nw = num(s1k, "idle/wakeups_per_minute");
    const auto cw = num(ct, "a/wakeups_per_minute");
    targets.push_back(
        make_target("wake-ups/min, endpoint with 1,000 idle connections < one c-toxcore instance's",
                    f(nw, 0) + " vs " + f(cw, 0), div(nw, cw), false, 1.0, false));
}

void relay_section(const std::filesystem::path& dir, std::ostringstream& o,
                   std::vector<Target>& targets) {
    const auto r = load(dir / "relay.json");
    if (!r) return;
    o << "## (i) Through one c-toxcore TCP relay, loopback, same relay process\n\n"
      << "A c-toxcore 0.2.18 relay (`tox_compare tox-peer --tcp-port`) in a private network "
         "namespace whose loopback has MTU 1500 and 4 KiB GSO segments (docs/relay.md: on a 64 "
         "KiB loopback a bulk upload can wedge a c-toxcore relay).\n\n"
      << "| What | MB/s | CPU s per GB (relay) | CPU s per GB (sender / receiver) | How |\n"
         "|---|---|---|---|---|\n"
      << "| the relay's ceiling | " << f(num(r, "ceiling/mb_per_s"), 2) << " | "
      << f(num(r, "ceiling/cpu_relay_s_per_gb"), 1) << " | — | two bare relay clients, "
      << f(num(r, "ceiling/payload_bytes"), 0)
      << "-byte routed frames A → B as fast as the relay takes them, "
      << f(num(r, "ceiling/seconds"), 0) << " s |\n"
      << "| netcrypto ↔ netcrypto | " << f(num(r, "netcrypto/mb_per_s"), 2) << " | "
      << f(div(num(r, "netcrypto/cpu_relay_s"), mul(num(r, "netcrypto/bytes"), 1e-9)), 1) << " | "
      << f(num(r, "netcrypto/cpu_s_per_gb_sender"), 1) << " / "
      << f(num(r, "netcrypto/cpu_s_per_gb_receiver"), 1)
      << " | both endpoints UDP-less (`--no-udp`), relay only; 1373-byte custom lossless "
         "messages, "
      << f(num(r, "netcrypto/seconds"), 0) << " s after Established |\n"
      << "| c-toxcore ↔ c-toxcore | n/a | | | two UDP-less c-toxcore instances on one local relay "
         "never found each other (a TCP-only c-toxcore finds friends only through the onion, "
         "which needs a DHT beyond one relay) |\n\n";
    targets.push_back(
        make_target("through a relay: netcrypto ↔ netcrypto ≥ 70 % of the relay's ceiling",
                    f(num(r, "netcrypto/mb_per_s"), 2, " MB/s") + " vs " +
                        f(num(r, "ceiling/mb_per_s"), 2, " MB/s"),
                    num(r, "ratio_to_ceiling"), true, 0.70, true));
}

}  // namespace

int report(const Args& args) {
    const std::filesystem::path dir = args.get("--dir", ".");
    const auto bench = load(dir / "bench.json");
    const BenchResults bm(bench);
    const auto nc_connect = load(dir / "nc_connect.json");
    const auto nc_tp = load(dir / "nc_throughput.json");
    const auto hs_ops = load(dir / "handshake_ops.json");
    const auto ctox = load(dir / "ctox.json");
    const auto nc_ctox = load(dir / "nc_ctox_connect.json");
    const auto nc_ctox_fast = load(dir / "nc_ctox_connect_fast.json");
    const auto ctox_mem = load(dir / "ctox_memory.json");
    std::map<int, std::optional<json>> nc_mem;
    for (int n : {1, 1000, 10000})
        nc_mem[n] = load(dir / ("nc_memory_" + std::to_string(n) + ".json"));

    std::ostringstream o;  // the detail sections; printed after the targets table
    std::vector<Target> targets;

    // --- (a) connect → Established ---
    o << "## (a) Connect → Established, loopback\n\n"
      << "| Path | From → to | median | p10 | p90 | runs |\n|---|---|---|---|---|---|\n";
    auto row = [&](const std::string& path, const std::string& what, const std::optional<json>& j,
                   const std::string& key, double scale, const std::string& unit, int decimals) {
        o << "| " << path << " | " << what << " | "
          << f(mul(num(j, key + "/median"), scale), decimals, unit) << " | "
          << f(mul(num(j, key + "/p10"), scale), decimals, unit) << " | "
          << f(mul(num(j, key + "/p90"), scale), decimals, unit) << " | "
          << f(num(j, key + "/runs"), 0) << " |\n";
    };
    row("netcrypto ↔ netcrypto",
        "`connect()` → both sides Established (one process, two UDP sockets)", nc_connect,
        "both_established_ms", 1, " ms", 3);
    row("netcrypto → c-toxcore",
        "`connect()` → our Established (c-toxcore loop sleeps `tox_iteration_interval()`)", nc_ctox,
        "ours_established_ms", 1, " ms", 1);
    row("netcrypto → c-toxcore", "`connect()` → c-toxcore `friend_connection` udp (same runs)",
        nc_ctox, "ctox_udp_ms", 1, " ms", 1);
    row("netcrypto → c-toxcore, c-toxcore polled every ≤ 1 ms", "`connect()` → our Established",
        nc_ctox_fast, "ours_established_ms", 1, " ms", 2);
    row("netcrypto → c-toxcore, c-toxcore polled every ≤ 1 ms",
        "`connect()` → c-toxcore `friend_connection` udp", nc_ctox_fast, "ctox_udp_ms", 1, " ms",
        2);
    {
        std::vector<double> add_to_udp;
        std::vector<double> cr_to_udp;
        std::vector<double> add_to_cr;
        if (ctox && ctox->contains("connect")) {
            for (const json& c : (*ctox)["connect"]) {
                if (!c.value("connected", false)) continue;
                add_to_udp.push_back(c.value("add_to_udp_ms", 0.0));
                if (c.contains("first_cookie_request_to_udp_ms")) {
                    cr_to_udp.push_back(c["first_cookie_request_to_udp_ms"].get<double>());
                    add_to_cr.push_back(c["add_to_first_cookie_request_ms"].get<double>());
                }
            }
        }
        const std::optional<json> s1 = json{{"x", summary(add_to_udp)}};
        const std::optional<json> s2 = json{{"x", summary(add_to_cr)}};
        const std::optional<json> s3 = json{{"x", summary(cr_to_udp)}};
        row("c-toxcore ↔ c-toxcore",
            "both have the other as friend, B bootstrapped to A → both `friend_connection` udp "
            "(DHT + onion discovery)",
            s1, "x", 1e-3, " s", 2);
        row("c-toxcore ↔ c-toxcore",
            "same start → first cookie request sent (DHT key and address known)", s2, "x", 1e-3,
            " s", 2);
        row("c-toxcore ↔ c-toxcore",
            "first cookie request sent → both `friend_connection` udp (net_crypto handshake)", s3,
            "x", 1, " ms", 1);
        const auto nc_ms = num(nc_connect, "both_established_ms/median");
        o << "\nc-toxcore's own handshake (first cookie request → udp) takes "
          << f(div(cr_to_udp.empty() ? std::nullopt : std::optional<double>(median(cr_to_udp)),
                   nc_ms),
               0)
          << "× netcrypto's connect → Established; most of it is c-toxcore's loop sleeping up to "
             "50 ms "
             "between `tox_iterate` calls (see the ≤ 1 ms rows). The c-toxcore pair's start is "
             "measured from the moment A added B (B was started with A as friend and A as "
             "bootstrap node), so it includes DHT and onion discovery; the first cookie request "
             "is observed in the interposed `sendto` (tox.h reports no \"DHT key known\" "
             "event).\n\n";
        const auto v = num(nc_connect, "both_established_ms/median");
        targets.push_back(
            make_target("connect → Established ≤ 1 ms median, netcrypto ↔ netcrypto on loopback",
                        f(v, 3, " ms") + " vs 1 ms", div(v, 1.0), false, 1.0, false));
    }

    // --- (b) bulk throughput ---
    o << "## (b) Bulk lossless throughput, loopback, same 10 s window\n\n"
      << "The window starts when the connection is up: netcrypto at Established, c-toxcore at "
         "the first send call (about 1 s after `friend_connection` udp; for the file, at "
         "`tox_file_send`, so the accept round trip is inside the window). "
      << "MB = 10⁶ bytes of messages delivered in order (custom lossless packets: the whole "
         "1373-byte message including its id byte; file transfer: file bytes). CPU = user + "
         "system seconds of each process over the window (`/proc/PID/stat`).\n\n"
      << "| Sender → receiver | MB/s | packets/s | CPU s/GB sender | CPU s/GB receiver | netcrypto "
         "÷ this |\n"
      << "|---|---|---|---|---|---|\n";
    const auto nc_mbps = num(nc_tp, "mb_per_s");
    auto tp_row = [&](const std::string& what, const std::optional<json>& j) {
        o << "| " << what << " | " << f(num(j, "mb_per_s"), 2) << " | "
          << f(num(j, "packets_per_s"), 0) << " | " << f(num(j, "cpu_s_per_gb_sender"), 2) << " | "
          << f(num(j, "cpu_s_per_gb_receiver"), 2) << " | "
          << f(div(nc_mbps, num(j, "mb_per_s")), 1, "×") << " |\n";
    };
    const std::optional<json> ll = ctox && ctox->contains("lossless")
                                       ? std::optional<json>((*ctox)["lossless"])
                                       : std::nullopt;
    const std::optional<json> file =
        ctox && ctox->contains("file") ? std::optional<json>((*ctox)["file"]) : std::nullopt;
    tp_row("netcrypto → netcrypto (`send_lossless`, 1373-byte messages, two processes)", nc_tp);
    tp_row("c-toxcore → c-toxcore (`tox_friend_send_lossless_packet` as fast as accepted)", ll);
    tp_row(std::string("c-toxcore → c-toxcore (`tox_file_send` of ") +
               f(mul(num(file, "file_bytes"), 1.0 / (1 << 20)), 0) + " MiB" +
               (file && file->value("completed", false) ? ", completed"
                                                        : ", not completed in the window") +
               ")",
           file);
    const auto raw = mul(bm.get("BM_RawSecretbox1373", "bytes_per_second"), 1e-6);
    const auto inmem = mul(bm.get("BM_InMemoryThroughput", "bytes_per_second"), 1e-6);
    o << "\nSame machine, same run, one core: libsodium `crypto_secretbox_easy` + `open_easy` of a "
         "1373-byte message (BM_RawSecretbox1373): "
      << f(raw, 1) << " MB/s; netcrypto's seal + open of the same packet (BM_SealOpen1373): "
      << f(mul(bm.get("BM_SealOpen1373", "bytes_per_second"), 1e-6), 1)
      << " MB/s; one netcrypto connection end to end in memory, sender and receiver in one thread "
         "(BM_InMemoryThroughput): "
      << f(inmem, 1) << " MB/s = " << f(mul(div(inmem, raw), 100), 0)
      << " % of raw secretbox. Over UDP the two processes run on the 2 shared cores.\n\n";
    targets.push_back(
        make_target("throughput ≥ 20× c-toxcore custom lossless (same 10 s window)",
                    f(nc_mbps, 1, " MB/s") + " vs " + f(num(ll, "mb_per_s"), 2, " MB/s"),
                    div(nc_mbps, num(ll, "mb_per_s")), true, 20, false));
    targets.push_back(
        make_target("throughput ≥ 5× c-toxcore file transfer (same 10 s window)",
                    f(nc_mbps, 1, " MB/s") + " vs " + f(num(file, "mb_per_s"), 2, " MB/s"),
                    div(nc_mbps, num(file, "mb_per_s")), true, 5, false));
    targets.push_back(
        make_target("throughput ≥ 40 % of libsodium seal+open rate, 1373-byte packets",
                    f(nc_mbps, 1, " MB/s") + " (UDP) vs " + f(raw, 1, " MB/s"), div(nc_mbps, raw),
                    true, 0.4, true));

    // --- (c) handshakes ---
    const auto hps = bm.get("BM_HandshakesPerSecond", "items_per_second");
    const auto x_var = bm.get("BM_X25519", "items_per_second");
    const auto x_fixed = bm.get("BM_X25519Base", "items_per_second");
    const auto ops_var = num(hs_ops, "total/variable_base");
    const auto ops_fixed = num(hs_ops, "total/fixed_base");
    std::optional<double> ops;
    if (ops_var && ops_fixed) ops = *ops_var + *ops_fixed;
    const auto limit = div(x_var, ops);
    std::optional<double> limit_refined;
    if (ops_var && ops_fixed && x_var && x_fixed) {
        limit_refined = 1.0 / (*ops_var / *x_var + *ops_fixed / *x_fixed);
    }
    const auto resp_us = num(hs_ops, "responder/cpu_us");
    o << "## (c) Handshakes per second, one thread\n\n"
      << "| Quantity | Value |\n|---|---|\n"
      << "| BM_HandshakesPerSecond (one responder, a new initiator each time; both sides' work in "
         "the one timed thread) | "
      << f(hps, 0, "/s") << " |\n"
      << "| X25519 per handshake, initiator (counted: libsodium calls wrapped at link time) | "
      << f(num(hs_ops, "initiator/variable_base"), 1) << " variable-base + "
      << f(num(hs_ops, "initiator/fixed_base"), 1) << " fixed-base |\n"
      << "| X25519 per handshake, responder | " << f(num(hs_ops, "responder/variable_base"), 1)
      << " variable-base + " << f(num(hs_ops, "responder/fixed_base"), 1) << " fixed-base |\n"
      << "| libsodium `crypto_scalarmult` (BM_X25519) | " << f(x_var, 0, "/s") << " |\n"
      << "| libsodium `crypto_scalarmult_base` (BM_X25519Base) | " << f(x_fixed, 0, "/s") << " |\n"
      << "| Limit = X25519 rate ÷ all X25519 ops of one handshake (" << f(ops, 1) << ") | "
      << f(limit, 0, "/s") << " |\n"
      << "| Limit counting fixed-base ops at their own (faster) rate | "
      << f(limit_refined, 0, "/s") << " |\n"
      << "| CPU per handshake, measured by side (thread CPU time) | initiator "
      << f(num(hs_ops, "initiator/cpu_us"), 0) << " µs, responder " << f(resp_us, 0) << " µs |\n"
      << "| → a responder alone (initiators elsewhere) | " << f(div(1e6, resp_us), 0, "/s")
      << " |\n\n";
    targets.push_back(make_target("handshakes/s ≥ 70 % of (X25519 rate ÷ X25519 ops per handshake)",
                                  f(hps, 0, "/s") + " vs " + f(limit, 0, "/s"), div(hps, limit),
                                  true, 0.7, true));

    // --- (d) memory ---
    o << "## (d) Memory per idle Established connection\n\n"
      << "| Implementation | Connections | Bytes per connection | How |\n|---|---|---|---|\n";
    for (int n : {1, 1000, 10000}) {
        o << "| netcrypto | " << f(static_cast<double>(n), 0) << " | "
          << f(num(nc_mem[n], "bytes_per_connection"), 0) << " ("
          << f(mul(num(nc_mem[n], "bytes_per_connection"), 1.0 / 1024), 2, " KiB")
          << ") | heap delta (mallinfo2) of one server endpoint, "
          << f(num(nc_mem[n], "established"), 0) << " Established after 3 s idle |\n";
    }
    o << "| c-toxcore 0.2.18 | 1 → 2 | " << f(num(ctox_mem, "rss_delta_1_to_2_connected_bytes"), 0)
      << " (" << f(mul(num(ctox_mem, "rss_delta_1_to_2_connected_bytes"), 1.0 / 1024), 0, " KiB")
      << ") | RSS delta of one c-toxcore process, friend added + connected |\n"
      << "| c-toxcore 0.2.18 | 1 … " << f(num(ctox_mem, "steps/5/friends"), 0) << " | "
      << f(num(ctox_mem, "rss_per_connected_friend_bytes"), 0) << " ("
      << f(mul(num(ctox_mem, "rss_per_connected_friend_bytes"), 1.0 / 1024), 0, " KiB")
      << ") | RSS slope per connected friend; of which the connection "
      << f(mul(num(ctox_mem, "rss_per_connection_bytes"), 1.0 / 1024), 0, " KiB")
      << " (RSS growth when added friends connect) and the friend entry "
      << f(mul(num(ctox_mem, "rss_per_friend_entry_bytes"), 1.0 / 1024), 0, " KiB") << " |\n\n"
      << "netcrypto's figure includes everything the endpoint keeps per connection (connection "
         "object, replay bitmap, slot, address/key/timer tables, the bounded anti-replay cache of "
         "recent handshakes) and malloc's chunk headers. c-toxcore's figure is measured (RSS of "
         "a real process whose friends are netcrypto endpoints), not derived from struct "
         "sizes.\n\n";
    {
        const auto v = num(nc_mem[10000], "bytes_per_connection");
        targets.push_back(make_target("idle connection ≤ 4 KiB (at 10,000 connections)",
                                      f(v, 0, " B") + " vs 4,096 B", div(v, 4096), false, 1.0,
                                      true));
    }

    // --- (e) CPU per packet ---
    const auto d10 = bm.cpu_ns("BM_DispatchWithConnections/10");
    const auto d10k = bm.cpu_ns("BM_DispatchWithConnections/10000");
    o << "## (e) CPU per received packet vs number of connections\n\n"
      << "BM_DispatchWithConnections: one 100-byte lossy packet handled by an endpoint holding N "
         "Established connections (address lookup, replay check, decryption, queueing, the event, "
         "reading it), packets from the connections in a scattered order.\n\n"
      << "| Connections | CPU ns per packet | ÷ at 10 |\n|---|---|---|\n"
      << "| 10 | " << f(d10, 0) << " | 1.00 |\n"
      << "| 10,000 | " << f(d10k, 0) << " | " << f(div(d10k, d10), 2) << " |\n\n";
    targets.push_back(make_target("CPU per packet at 10,000 connections within 10 % of 10",
                                  f(d10k, 0, " ns") + " vs " + f(d10, 0, " ns"), div(d10k, d10),
                                  false, 1.10, false));

    scale_sections(dir, o, targets);
    idle_section(dir, o, targets);
    relay_section(dir, o, targets);

    // --- targets first, then the details ---
    std::cout << "## Targets\n\n| Target | Measured | Ratio | Needed | Verdict |\n"
                 "|---|---|---|---|---|\n";
    for (const Target& t : targets) {
        std::cout << "| " << t.name << " | " << t.measured << " | " << t.ratio << " | " << t.needed
                  << " | " << verdict(t.met) << " |\n";
    }
    std::cout << "\n" << o.str();
    return 0;
}

}  // namespace netcrypto::bench
