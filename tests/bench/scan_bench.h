// Issue 10's benchmarks (content scanning): registered by scan_bench.cc,
// summarised by PrintScanFigures at the end of tollgate_bench.
#pragma once

#include <functional>
#include <string>

namespace tollgate::bench {

// cpu(name): CPU ns per iteration of a run (-1 when not run); counter(name:key).
void PrintScanFigures(const std::function<double(const std::string&)>& cpu,
                      const std::function<double(const std::string&)>& counter);

}  // namespace tollgate::bench
