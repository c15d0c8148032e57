// SPDX-License-Identifier: MIT
//
// udp_tool: loopback-only UDP helper of lanchat_test.sh (sends to 127.0.0.1 only; linked with the
// loopback guard as well). Output: one JSON line on stdout.
//
//   udp_tool free-port [N]             a port P with UDP 0.0.0.0:P..P+N-1 free, outside c-toxcore's
//                                      default range 33445..33545: prints P (plain number)
//   udp_tool lan-probe PORT [SECONDS]  from 127.0.0.2: LAN discovery (0x21 || 32 random bytes) to
//                                      127.0.0.1:PORT every 0.5 s until an answer or SECONDS:
//                                      {"answered":true,"from":"ip:port","len":N,"id":"02",
//                                       "dht_key":"<hex of bytes 1..32>"} or {"answered":false}
//   udp_tool inject PORT KIND COUNT    COUNT datagrams to 127.0.0.1:PORT, alternately from
//                                      127.0.0.2 and from 127.0.0.1 (another port):
//                                      {"sent":N,"dht":M} (M of them DHT/LAN discovery ids).
//                                      KIND spoof02: well-formed 113-byte DHT nodes requests
//                                      (0x02 || random "sender DHT key" || nonce || box);
//                                      malformed: DHT/LAN packets of wrong lengths and garbage
//                                      (ids 0x00 0x01 0x02 0x04 0x21 ...); all: both, alternating.
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <sodium.h>

namespace {

using Bytes = std::vector<uint8_t>;

sockaddr_in v4(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

int udp_socket(const char* src_ip, uint16_t port = 0) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        return -1;
    }
    const sockaddr_in a = v4(src_ip, port);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

uint16_t local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

Bytes random_bytes(size_t n) {
    Bytes b(n);
    if (n != 0) {
        randombytes_buf(b.data(), n);
    }
    return b;
}

Bytes packet(uint8_t id, size_t total) {
    Bytes b = random_bytes(total);
    if (total != 0) {
        b[0] = id;
    }
    return b;
}

std::string hex(const uint8_t* p, size_t n) {
    std::string s(n * 2, '0');
    static constexpr char kDigits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = kDigits[p[i] >> 4];
        s[2 * i + 1] = kDigits[p[i] & 15];
    }
    return s;
}

bool send_to(int fd, const Bytes& b, uint16_t port) {
    const sockaddr_in dst = v4("127.0.0.1", port);
    return sendto(fd, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&dst),
                  sizeof(dst)) >= 0;
}

int free_port(unsigned n) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int probe = udp_socket("127.0.0.1");
        if (probe < 0) {
            return 1;
        }
        const unsigned base = local_port(probe);
        close(probe);
        if (base < 1024 || base + n > 65535 || (base + n > 33445 && base <= 33545)) {
            continue;
        }
        std::vector<int> held;
        bool ok = true;
        for (unsigned p = base; p < base + n && ok; ++p) {
            const int fd = udp_socket("0.0.0.0", static_cast<uint16_t>(p));  // as c-toxcore binds
            ok = fd >= 0;
            if (ok) {
                held.push_back(fd);
            }
        }
        for (const int fd : held) {
            close(fd);
        }
        if (ok) {
            std::printf("%u\n", base);
            return 0;
        }
    }
    std::fprintf(stderr, "udp_tool: no free port range found\n");
    return 1;
}

int lan_probe(uint16_t port, double seconds) {
    const int fd = udp_socket("127.0.0.2");
    if (fd < 0) {
        std::perror("udp_tool: bind 127.0.0.2");
        return 1;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        Bytes probe = random_bytes(33);
        probe[0] = 0x21;
        send_to(fd, probe, port);
        pollfd pfd{fd, POLLIN, 0};
        if (poll(&pfd, 1, 500) > 0) {
            uint8_t buf[2048];
            sockaddr_in from{};
            socklen_t flen = sizeof(from);
            const ssize_t r =
                recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen);
            if (r >= 0) {
                const auto len = static_cast<size_t>(r);
                char ip[INET_ADDRSTRLEN] = {};
                inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
                std::printf(
                    "{\"answered\":true,\"from\":\"%s:%u\",\"len\":%zu,\"id\":\"%s\","
                    "\"dht_key\":\"%s\"}\n",
                    ip, static_cast<unsigned>(ntohs(from.sin_port)), len,
                    hex(buf, len < 1 ? 0 : 1).c_str(),
                    hex(buf + (len < 1 ? 0 : 1), len < 33 ? (len < 1 ? 0 : len - 1) : 32).c_str());
                close(fd);
                return 0;
            }
        }
    }
    std::printf("{\"answered\":false}\n");
    close(fd);
    return 0;
}

std::vector<Bytes> malformed_packets() {
    std::vector<Bytes> out;
    for (const size_t n : std::initializer_list<size_t>{1, 2, 33, 56, 57, 112, 114, 200, 1400}) {
        out.push_back(packet(0x02, n));
    }
    for (const size_t n : std::initializer_list<size_t>{1, 32, 34, 100}) {
        out.push_back(packet(0x21, n));
    }
    for (const size_t n : std::initializer_list<size_t>{1, 60, 113, 300}) {
        out.push_back(packet(0x04, n));
    }
    for (const uint8_t id : std::initializer_list<uint8_t>{0x00, 0x01, 0x18, 0x19, 0x1a, 0x1b, 0x20,
                                                           0x80, 0x81, 0xff}) {
        out.push_back(packet(id, 81));
    }
    return out;
}

int inject(uint16_t port, const std::string& kind, unsigned count) {
    const int from[2] = {udp_socket("127.0.0.2"), udp_socket("127.0.0.1")};
    if (from[0] < 0 || from[1] < 0) {
        std::perror("udp_tool: bind");
        return 1;
    }
    const std::vector<Bytes> bad = malformed_packets();
    unsigned sent = 0;
    unsigned dht = 0;  // of which DHT / LAN discovery packets (ids 0x00 0x01 0x02 0x04 0x21)
    for (unsigned i = 0; i < count; ++i) {
        const bool spoof = kind == "spoof02" || (kind == "all" && i % 2 == 0);
        const Bytes b = spoof ? packet(0x02, 113) : bad[(i / 2) % bad.size()];
        if (send_to(from[i % 2], b, port)) {
            ++sent;
            const uint8_t id = b[0];
            dht += (id == 0x00 || id == 0x01 || id == 0x02 || id == 0x04 || id == 0x21) ? 1 : 0;
        }
        if (i % 20 == 19) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    close(from[0]);
    close(from[1]);
    std::printf("{\"sent\":%u,\"dht\":%u}\n", sent, dht);
    return 0;
}

unsigned long number(const char* s) {
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        std::fprintf(stderr, "udp_tool: not a number: %s\n", s);
        std::exit(2);
    }
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    if (sodium_init() < 0) {
        return 1;
    }
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "free-port" && argc <= 3) {
        return free_port(argc == 3 ? static_cast<unsigned>(number(argv[2])) : 1U);
    }
    if (cmd == "lan-probe" && (argc == 3 || argc == 4)) {
        return lan_probe(static_cast<uint16_t>(number(argv[2])),
                         argc == 4 ? static_cast<double>(number(argv[3])) : 3.0);
    }
    if (cmd == "inject" && argc == 5) {
        const std::string kind = argv[3];
        if (kind == "spoof02" || kind == "malformed" || kind == "all") {
            return inject(static_cast<uint16_t>(number(argv[2])), kind,
                          static_cast<unsigned>(number(argv[4])));
        }
    }
    std::fprintf(stderr,
                 "usage: udp_tool free-port [N] | lan-probe PORT [SECONDS] | "
                 "inject PORT spoof02|malformed|all COUNT\n");
    return 2;
}
