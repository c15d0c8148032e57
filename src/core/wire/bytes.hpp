// Bounds-checked byte reader and writer: the only way codecs touch packet bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace netcrypto::wire {

/// Reads a byte range front to back. Every read checks the remaining length first; a failed
/// read consumes nothing and returns false.
class ByteReader {
  public:
    explicit ByteReader(std::span<const std::uint8_t> data) : data_(data) {}

    [[nodiscard]] std::size_t remaining() const { return data_.size() - pos_; }

    /// Copies exactly out.size() bytes into `out`.
    [[nodiscard]] bool read(std::span<std::uint8_t> out) {
        if (out.size() > remaining()) return false;
        std::copy_n(data_.subspan(pos_).begin(), out.size(), out.begin());
        pos_ += out.size();
        return true;
    }

    template <std::size_t N>
    [[nodiscard]] bool read(std::array<std::uint8_t, N>& out) {
        return read(std::span<std::uint8_t>(out));
    }

    [[nodiscard]] bool read_u8(std::uint8_t& out) {
        if (remaining() < 1) return false;
        out = data_[pos_++];
        return true;
    }

    [[nodiscard]] bool read_be16(std::uint16_t& out) {
        if (remaining() < 2) return false;
        out = static_cast<std::uint16_t>((data_[pos_] << 8U) | data_[pos_ + 1]);
        pos_ += 2;
        return true;
    }

    [[nodiscard]] bool read_be32(std::uint32_t& out) {
        if (remaining() < 4) return false;
        out = (std::uint32_t{data_[pos_]} << 24U) | (std::uint32_t{data_[pos_ + 1]} << 16U) |
              (std::uint32_t{data_[pos_ + 2]} << 8U) | std::uint32_t{data_[pos_ + 3]};
        pos_ += 4;
        return true;
    }

    /// A view of the next `n` bytes (consumed); false (nothing consumed, `out` untouched) when
    /// fewer remain.
    [[nodiscard]] bool view(std::size_t n, std::span<const std::uint8_t>& out) {
        if (n > remaining()) return false;
        out = data_.subspan(pos_, n);
        pos_ += n;
        return true;
    }

    /// A view of everything not yet read (consumes it).
    std::span<const std::uint8_t> rest() {
        auto r = data_.subspan(pos_);
        pos_ = data_.size();
        return r;
    }

  private:
    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;
};

/// Writes into a caller-provided buffer front to back. A write that does not fit sets the
/// writer's failed flag and writes nothing; callers check ok() once at the end.
class ByteWriter {
  public:
    explicit ByteWriter(std::span<std::uint8_t> out) : out_(out) {}

    [[nodiscard]] bool ok() const { return ok_; }
    [[nodiscard]] std::size_t written() const { return pos_; }
    [[nodiscard]] std::size_t remaining() const { return out_.size() - pos_; }

    void write(std::span<const std::uint8_t> bytes) {
        if (!ok_ || bytes.size() > remaining()) {
            ok_ = false;
            return;
        }
        std::copy(bytes.begin(), bytes.end(), out_.subspan(pos_).begin());
        pos_ += bytes.size();
    }

    void write_u8(std::uint8_t v) { write(std::span<const std::uint8_t>(&v, 1)); }

    void write_be16(std::uint16_t v) {
        const std::array<std::uint8_t, 2> b{static_cast<std::uint8_t>(v >> 8U),
                                            static_cast<std::uint8_t>(v & 0xFFU)};
        write(b);
    }

    void write_be32(std::uint32_t v) {
        const std::array<std::uint8_t, 4> b{
            static_cast<std::uint8_t>(v >> 24U), static_cast<std::uint8_t>((v >> 16U) & 0xFFU),
            static_cast<std::uint8_t>((v >> 8U) & 0xFFU), static_cast<std::uint8_t>(v & 0xFFU)};
        write(b);
    }

    void write_zeros(std::size_t n) {
        if (!ok_ || n > remaining()) {
            ok_ = false;
            return;
        }
        std::fill_n(out_.subspan(pos_).begin(), n, std::uint8_t{0});
        pos_ += n;
    }

    /// Reserves `n` bytes to be filled in place (e.g. by encryption); empty span on overflow.
    std::span<std::uint8_t> reserve(std::size_t n) {
        if (!ok_ || n > remaining()) {
            ok_ = false;
            return {};
        }
        auto r = out_.subspan(pos_, n);
        pos_ += n;
        return r;
    }

  private:
    std::span<std::uint8_t> out_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace netcrypto::wire
