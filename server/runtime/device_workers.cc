#include "server/runtime/device_workers.h"

#include <stdexcept>
#include <utility>

namespace streamdit::server {

DeviceWorkers::DeviceWorkers(int devices) {
  for (int i = 0; i < devices; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    Worker& worker = *workers_.back();
    worker.thread = std::thread([&worker] { Loop(worker); });
  }
}

DeviceWorkers::~DeviceWorkers() {
  for (auto& worker : workers_) {
    {
      std::lock_guard<std::mutex> lock(worker->mu);
      worker->stop = true;
    }
    worker->wake.notify_one();
  }
  for (auto& worker : workers_) worker->thread.join();
}

void DeviceWorkers::Post(int device, std::function<void()> task) {
  if (device < 0 || device >= static_cast<int>(workers_.size())) {
    throw std::out_of_range("DeviceWorkers::Post: no device " + std::to_string(device));
  }
  Worker& worker = *workers_[device];
  {
    std::lock_guard<std::mutex> lock(worker.mu);
    worker.tasks.push_back(std::move(task));
  }
  worker.wake.notify_one();
}

void DeviceWorkers::Loop(Worker& worker) {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(worker.mu);
      worker.wake.wait(lock, [&] { return worker.stop || !worker.tasks.empty(); });
      if (worker.tasks.empty()) return;  // stop, and nothing left to run
      task = std::move(worker.tasks.front());
      worker.tasks.pop_front();
    }
    task();
  }
}

}  // namespace streamdit::server
