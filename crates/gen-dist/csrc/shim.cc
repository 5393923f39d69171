// gen-dist's C shim over libtorch's c10d: a TCP store, a prefix store, and a Gloo process group
// with all-reduce (sum), broadcast, all-gather and barrier on CPU tensors.
//
// Conventions (src/ffi.rs mirrors them):
// - Every function that can fail returns 0 on success and 1 on failure. On failure `*err` is a
//   malloc'd, NUL-terminated message (free it with gd_free); no C++ exception ever crosses the
//   C boundary.
// - Handles (gd_store, gd_group) are heap objects owned by the caller and freed with *_free.
// - Tensors are `torch::Tensor*` as tch hands them out (tch::Tensor::as_ptr).

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

struct gd_store {
  c10::intrusive_ptr<c10d::Store> store;
  // Set for a TCP store: its port (the real one when it was hosted on port 0).
  uint16_t port = 0;
};

struct gd_group {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  // Every collective's timeout. (Set per call: ProcessGroupGloo::setTimeout would call
  // gloo::Context::setTimeout, which libtorch_cuda.so exports too, and the linker would then
  // make CPU binaries need libtorch_cuda.)
  std::chrono::milliseconds timeout;
};

namespace {

char* copy_message(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
  }
  return out;
}

// Runs `body`; turns any exception into return code 1 and a message in *err.
template <typename F>
int guarded(char** err, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    // c10's what() appends a C++ backtrace; the message alone is what a user needs.
    *err = copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = copy_message(e.what());
  } catch (...) {
    *err = copy_message("unknown C++ exception");
  }
  return 1;
}

std::vector<at::Tensor> tensor_list(void* const* tensors, size_t n) {
  std::vector<at::Tensor> list;
  list.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // A shallow copy: it shares the caller's storage, so results land in the caller's tensor.
    list.push_back(*static_cast<const at::Tensor*>(tensors[i]));
  }
  return list;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    if (end > start) {
      parts.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return parts;
}

}  // namespace

extern "C" {

void gd_free(void* p) { std::free(p); }

int gd_store_tcp(const char* host, uint16_t port, int is_server, int64_t timeout_ms,
                 gd_store** out, char** err) {
  return guarded(err, [&] {
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = is_server != 0;
    // gen-dist runs its own join protocol (src/rendezvous.rs) with clearer messages than
    // TCPStore's worker count, so the store neither counts nor waits for workers.
    opts.numWorkers = std::nullopt;
    opts.waitWorkers = false;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    auto* handle = new gd_store;
    handle->port = tcp->getPort();
    handle->store = tcp;
    *out = handle;
  });
}

int gd_store_prefix(const gd_store* base, const char* prefix, gd_store** out, char** err) {
  return guarded(err, [&] {
    auto* handle = new gd_store;
    handle->port = base->port;
    handle->store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), base->store);
    *out = handle;
  });
}

uint16_t gd_store_port(const gd_store* store) { return store->port; }

void gd_store_free(gd_store* store) { delete store; }

int gd_store_set(gd_store* store, const char* key, const uint8_t* data, size_t len,
                 char** err) {
  return guarded(err, [&] {
    std::vector<uint8_t> value(data, data + len);
    store->store->set(std::string(key), value);
  });
}

int gd_store_get(gd_store* store, const char* key, uint8_t** data, size_t* len, char** err) {
  return guarded(err, [&] {
    std::vector<uint8_t> value = store->store->get(std::string(key));
    auto* buffer = static_cast<uint8_t*>(std::malloc(value.empty() ? 1 : value.size()));
    if (buffer == nullptr) {
      throw std::bad_alloc();
    }
    if (!value.empty()) {
      std::memcpy(buffer, value.data(), value.size());
    }
    *data = buffer;
    *len = value.size();
  });
}

int gd_store_add(gd_store* store, const char* key, int64_t delta, int64_t* out, char** err) {
  return guarded(err, [&] { *out = store->store->add(std::string(key), delta); });
}

int gd_store_check(gd_store* store, const char* key, int* out, char** err) {
  return guarded(err, [&] {
    std::vector<std::string> keys{std::string(key)};
    *out = store->store->check(keys) ? 1 : 0;
  });
}

int gd_group_gloo(const gd_store* store, int rank, int size, int64_t connect_timeout_ms,
                  int64_t timeout_ms, const char* ifnames, gd_group** out, char** err) {
  return guarded(err, [&] {
    // The mesh of connections is built under the connect timeout; collectives then run under
    // their own (usually longer) one, passed with each call.
    auto options = c10d::ProcessGroupGloo::Options::create(
        std::chrono::milliseconds(connect_timeout_ms));
    std::string names = ifnames == nullptr ? std::string() : std::string(ifnames);
    for (const auto& name : split_commas(names)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    }
    if (options->devices.empty()) {
      // Binds to the address the host name resolves to, or to loopback when it resolves to
      // none (see the crate docs on multi-node runs).
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    // As torch does: two worker threads per device.
    options->threads = static_cast<int>(options->devices.size()) * 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store->store, rank, size, options);
    auto* handle = new gd_group;
    handle->pg = pg;
    handle->timeout = std::chrono::milliseconds(timeout_ms);
    *out = handle;
  });
}

void gd_group_free(gd_group* group) { delete group; }

int gd_allreduce_sum(gd_group* group, void* const* tensors, size_t n, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> list = tensor_list(tensors, n);
    if (list.size() == 1) {
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = group->timeout;
      group->pg->allreduce(list, opts)->wait();
    } else {
      // Each tensor is reduced with its counterparts on the other ranks (shapes may differ
      // within the list); plain `allreduce` would instead treat the list as one tensor per
      // device and sum them all together.
      c10d::AllreduceCoalescedOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = group->timeout;
      group->pg->allreduce_coalesced(list, opts)->wait();
    }
  });
}

int gd_broadcast(gd_group* group, void* tensor, int root, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> list = tensor_list(&tensor, 1);
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.rootTensor = 0;
    opts.timeout = group->timeout;
    group->pg->broadcast(list, opts)->wait();
  });
}

int gd_allgather(gd_group* group, void* input, void* const* outputs, size_t n, char** err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> inputs = tensor_list(&input, 1);
    std::vector<std::vector<at::Tensor>> output_lists{tensor_list(outputs, n)};
    c10d::AllgatherOptions opts;
    opts.timeout = group->timeout;
    group->pg->allgather(output_lists, inputs, opts)->wait();
  });
}

int gd_barrier(gd_group* group, char** err) {
  return guarded(err, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = group->timeout;
    group->pg->barrier(opts)->wait();
  });
}

}  // extern "C"
