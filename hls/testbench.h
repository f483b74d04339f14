// hwmoe HLS testbench: the part of every generated project's C-simulation testbench that does not vary.
//
// A generated tb.cpp declares the top function's streams and arrays, and with a Testbench object fills
// them from data/<port>.txt, calls the top function and checks every output word against
// data/<port>.expected.txt.  Word files are written by hwmoe: the word count, then the raw integers
// (value * 2**frac) separated by white space.  The last lines of the output are what `hwmoe hls --csim`
// reads:
//     words compared: N
//     mismatches: M
//     BIT-EXACT            (or NOT BIT-EXACT; the exit status is 0 only when bit-exact)
// A missing or short word file ends the program with exit status 2 and no verdict.
#ifndef HWMOE_TESTBENCH_H
#define HWMOE_TESTBENCH_H

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "hwmoe_common.h"

namespace hwmoe {

class Testbench {
  public:
    // Usage of the generated program: csim [DATA_DIR]   (default: data)
    Testbench(int argc, char **argv) : data_dir_(argc > 1 ? argv[1] : "data"), words_(0), mismatches_(0) {}

    // Writes the count words of data/<name>.txt into the input stream s.
    template <class T> void feed(const char *name, hls::stream<T> &s, long long count) {
        std::vector<long long> raw_words = load(std::string(name) + ".txt", count);
        for (size_t i = 0; i < raw_words.size(); i++) s.write(from_raw<T>(raw_words[i]));
    }

    // Fills the array mem (read by the top function over m_axi) with the words of data/<name>.txt.
    template <class T> void fill(const char *name, T *mem, long long count) {
        std::vector<long long> raw_words = load(std::string(name) + ".txt", count);
        for (size_t i = 0; i < raw_words.size(); i++) mem[i] = from_raw<T>(raw_words[i]);
    }

    // Compares the output stream s with data/<name>.expected.txt word by word; a missing word and every
    // word beyond the expected ones count as mismatches.  The first ten mismatches are printed.
    template <class T> void check(const char *name, hls::stream<T> &s, long long count) {
        std::vector<long long> expected = load(std::string(name) + ".expected.txt", count);
        for (size_t i = 0; i < expected.size(); i++) {
            if (s.empty()) {
                std::printf("%s: output ended after %zu of %zu words\n", name, i, expected.size());
                mismatches_ += (long long)(expected.size() - i);
                return;
            }
            long long got = raw(s.read()).to_int64();
            words_++;
            if (got != expected[i] && ++mismatches_ <= 10)
                std::printf("mismatch %s[%zu]: got %lld, expected %lld\n", name, i, got, expected[i]);
        }
        long long extra = 0;
        while (!s.empty()) {
            s.read();
            extra++;
        }
        if (extra) {
            std::printf("%s: %lld words more than expected\n", name, extra);
            mismatches_ += extra;
        }
    }

    // Prints the summary and returns the exit status: 0 when every word was compared and equal.
    int verdict() const {
        std::printf("words compared: %lld\n", words_);
        std::printf("mismatches: %lld\n", mismatches_);
        bool exact = mismatches_ == 0 && words_ > 0;
        std::printf(exact ? "BIT-EXACT\n" : "NOT BIT-EXACT\n");
        return exact ? 0 : 1;
    }

  private:
    std::vector<long long> load(const std::string &file, long long count) const {
        std::string path = data_dir_ + "/" + file;
        std::ifstream f(path.c_str());
        long long n = -1;
        f >> n;
        if (!f || n != count) {
            std::fprintf(stderr, "tb: %s: cannot read %lld words\n", path.c_str(), count);
            std::exit(2);
        }
        std::vector<long long> v((size_t)n);
        for (size_t i = 0; i < v.size(); i++) f >> v[i];
        if (!f) {
            std::fprintf(stderr, "tb: %s: truncated\n", path.c_str());
            std::exit(2);
        }
        return v;
    }

    std::string data_dir_;
    long long words_, mismatches_;
};

}  // namespace hwmoe

#endif
