// libFuzzer target: the deployment-file loaders on arbitrary bytes. The first
// byte picks the loader: catalog, accounts, schema extension, or a `data`
// document (written to a temporary file and loaded by the checker against a
// shape chosen by the second byte). None may crash, hang or leak; a catalog
// that loads must answer its queries. Built by -DTOLLGATE_FUZZ=ON.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/engine.h"
#include "runtime/router/accounts.h"
#include "runtime/router/catalog.h"
#include "stdlib/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tollgate;
  if (size < 2) return 0;
  const uint8_t which = data[0] % 4, shape = data[1];
  std::string json(reinterpret_cast<const char*>(data + 2), size - 2);
  const stdlib::Schema& standard = stdlib::Schema::Standard();
  switch (which) {
    case 0: {
      runtime::Catalog c;
      runtime::CatalogError e;
      if (runtime::Catalog::Load(json, standard, &c, &e)) {
        for (size_t i = 0; i < c.size(); ++i) (void)c.endpoint(static_cast<uint32_t>(i)).id;
      }
      break;
    }
    case 1: {
      runtime::Accounts a;
      runtime::AccountsError e;
      if (runtime::Accounts::Load(json, &a, &e)) (void)a.For("acme");
      break;
    }
    case 2: {
      stdlib::Schema s = standard;
      std::string error;
      (void)s.AddFromJson(json, &error);
      break;
    }
    default: {
      static const std::string dir = [] {
        std::string d = "/tmp/tg_fuzz_loaders_" + std::to_string(::getpid());
        std::filesystem::create_directories(d);
        return d;
      }();
      { std::ofstream(dir + "/d.json", std::ios::binary) << json; }
      static const char* kShapes[] = {
          "map<int>", "list<string>", "set<string>", "{a: int, b?: list<decimal>}",
          "map<{allowed: list<string>, suspended?: bool}>", "list<map<money>>", "time", "duration",
      };
      std::string src = std::string("policy \"p\"\ndata d from \"d.json\": ") + kShapes[shape % 8] +
                        "\nrule r { when exists(d) deny \"x\" }\n";
      Compiled c = CompileSource(dir + "/p.tg", src, {});
      (void)c.diagnostics.Render();
      break;
    }
  }
  return 0;
}
