// netcrypto_offload: bulk throughput and CPU per GB with UDP GSO/GRO off and on, next to
// libsodium's own cost of sealing and opening the same bytes, measured in the same run
// (issue #15 point 3). Runs `netcrypto_compare throughput` (found next to this program) twice
// per path; prints a Markdown section on stdout.
//
//   netcrypto_offload [--seconds 5] [--sodium-mb 256] [--label loopback]
//                     [--netns NS --send-ip IP --recv-ip IP]   (a veth pair set up by the caller)
//   netcrypto_offload sodium [--sodium-mb 256]                 libsodium costs only, JSON
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <sodium.h>

#include "compare_common.hpp"

namespace {

using namespace netcrypto::bench;

constexpr std::size_t kPayload = 1373;  ///< a full lossless data packet's message

/// CPU seconds per GB of payload for crypto_box_easy_afternm / open_afternm (what netcrypto
/// uses per data packet), `mb` megabytes each way.
json sodium_cost(double mb) {
    std::array<std::uint8_t, crypto_box_BEFORENMBYTES> key{};
    std::array<std::uint8_t, crypto_box_NONCEBYTES> nonce{};
    randombytes_buf(key.data(), key.size());
    randombytes_buf(nonce.data(), nonce.size());
    std::vector<std::uint8_t> plain(kPayload, 0x5A);
    std::vector<std::uint8_t> box(kPayload + crypto_box_MACBYTES);
    std::vector<std::uint8_t> back(kPayload);
    const auto n = static_cast<std::size_t>(mb * 1e6 / kPayload);
    double t0 = thread_cpu_seconds();
    for (std::size_t i = 0; i < n; ++i) {
        crypto_box_easy_afternm(box.data(), plain.data(), plain.size(), nonce.data(), key.data());
        sodium_increment(nonce.data(), nonce.size());
    }
    const double seal = thread_cpu_seconds() - t0;
    // Opened n times: one valid box (same cost as n different ones).
    crypto_box_easy_afternm(box.data(), plain.data(), plain.size(), nonce.data(), key.data());
    int bad = 0;
    t0 = thread_cpu_seconds();
    for (std::size_t i = 0; i < n; ++i) {
        bad += crypto_box_open_easy_afternm(back.data(), box.data(), box.size(), nonce.data(),
                                            key.data());
    }
    const double open = thread_cpu_seconds() - t0;
    const double gb = static_cast<double>(n * kPayload) / 1e9;
    return json{{"seal_s_per_gb", seal / gb},
                {"open_s_per_gb", open / gb},
                {"gb", gb},
                {"open_failures", bad}};
}

json run_throughput(const std::string& cmp, const Args& args, bool offload) {
    std::vector<std::string> a{"throughput", "--seconds", args.get("--seconds", "5"), "--offload",
                               offload ? "1" : "0"};
    if (!args.get("--netns").empty()) {
        for (const char* k : {"--netns", "--send-ip", "--recv-ip"}) {
            a.emplace_back(k);
            a.push_back(args.get(k));
        }
    }
    std::string command = cmp;
    for (const auto& s : a) command += " '" + s + "'";
    command += " 2>/dev/null";
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) return json{{"error", "popen"}};
    std::string text;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr) text += buf.data();
    const int rc = ::pclose(p);
    if (rc != 0 || text.empty()) return json{{"error", "throughput failed"}};
    return json::parse(text);
}

std::string fmt(double v, int digits) {
    std::array<char, 64> b{};
    std::snprintf(b.data(), b.size(), "%.*f", digits, v);
    return b.data();
}

}  // namespace

int main(int argc, char** argv) {
    if (sodium_init() < 0) return 1;
    const Args args(argc, argv, 1);
    const double sodium_mb = args.number("--sodium-mb", 256);
    if (argc > 1 && std::string(argv[1]) == "sodium") {
        std::cout << sodium_cost(sodium_mb).dump() << std::endl;
        return 0;
    }
    const std::string cmp =
        (std::filesystem::path(self_exe()).parent_path() / "netcrypto_compare").string();
    const std::string label = args.get("--label", "loopback");
    // libsodium first and last: the mean of the two brackets the transfers on a shared machine.
    const json s0 = sodium_cost(sodium_mb);
    const json off = run_throughput(cmp, args, false);
    const json on = run_throughput(cmp, args, true);
    const json s1 = sodium_cost(sodium_mb);
    const double seal =
        (s0.at("seal_s_per_gb").get<double>() + s1.at("seal_s_per_gb").get<double>()) / 2;
    const double open =
        (s0.at("open_s_per_gb").get<double>() + s1.at("open_s_per_gb").get<double>()) / 2;
    std::cout
        << "| " << label
        << " | GSO/GRO | MB/s | sender CPU s/GB | × seal | receiver CPU s/GB | × open "
        << "| send calls | receive calls | super-datagrams sent / received | retransmitted |\n"
        << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    json rows = json::array();
    for (const json* r : {&off, &on}) {
        if (r->contains("error")) {
            std::cout << "| | " << (r == &off ? "off" : "on") << " | failed | | | | | | | | |\n";
            continue;
        }
        const json& tx = r->at("sender_stats");
        const json& rx = r->at("receiver_stats");
        const double cs = r->at("cpu_s_per_gb_sender");
        const double cr = r->at("cpu_s_per_gb_receiver");
        const double sent = tx.value("lossless_sent", 0.0) + tx.value("retransmissions", 0.0);
        std::cout << "| | " << (r == &off ? "off" : "on") << " | " << fmt(r->at("mb_per_s"), 1)
                  << " | " << fmt(cs, 2) << " | " << fmt(cs / seal, 2) << "× | " << fmt(cr, 2)
                  << " | " << fmt(cr / open, 2) << "× | " << tx["socket"].value("send_calls", 0)
                  << " | " << rx["socket"].value("receive_calls", 0) << " | "
                  << tx["socket"].value("gso_messages", 0) << " / "
                  << rx["socket"].value("gro_messages", 0) << " | "
                  << fmt(sent > 0 ? 100.0 * tx.value("retransmissions", 0.0) / sent : 0, 2)
                  << " % |\n";
    }
    std::cout << "\nlibsodium in the same run (crypto_box_easy_afternm / open_afternm, 1373-byte "
                 "messages, one core): seal "
              << fmt(seal, 3) << " CPU s/GB, open " << fmt(open, 3) << " CPU s/GB.\n";
    std::cout << "<!-- json "
              << json{{"label", label},
                      {"off", off},
                      {"on", on},
                      {"seal_s_per_gb", seal},
                      {"open_s_per_gb", open}}
                     .dump()
              << " -->\n";
    return 0;
}
