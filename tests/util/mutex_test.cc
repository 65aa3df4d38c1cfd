#include "util/mutex.h"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>
#include <vector>

using namespace relate;

BOOST_AUTO_TEST_SUITE(MutexTest)

BOOST_AUTO_TEST_CASE(MutexLockExcludesOtherThreads) {
  util::Mutex mu;
  uint64_t counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        util::MutexLock lock(&mu);
        counter = counter + 1;  // a read and a write: lost updates show without the lock
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(counter == 80000u);
}

BOOST_AUTO_TEST_CASE(UnlockInTheScopeLetsOthersInAndTheDestructorDoesNotUnlockTwice) {
  util::Mutex mu;
  {
    util::MutexLock lock(&mu);
    lock.Unlock();
    BOOST_TEST(mu.try_lock());  // free while unlocked within the scope
    mu.unlock();
    lock.Lock();
    std::thread other([&] {
      BOOST_TEST(!mu.try_lock());  // held again
    });
    other.join();
    lock.Unlock();
  }
  BOOST_TEST(mu.try_lock());  // the destructor of an unlocked scope left it free
  mu.unlock();
}

BOOST_AUTO_TEST_CASE(SharedLocksCoexistAndExclusiveWaits) {
  util::SharedMutex mu;
  int value = 0;
  std::atomic<bool> wrote = false;
  std::thread writer;
  {
    util::SharedLock a(&mu);
    util::SharedLock b(&mu);  // a second reader gets in beside the first
    writer = std::thread([&] {
      util::ExclusiveLock w(&mu);
      value = 1;
      wrote = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    BOOST_TEST(!wrote.load());  // the writer waits while the readers hold it
  }
  writer.join();
  util::SharedLock r(&mu);
  BOOST_TEST(value == 1);
}

BOOST_AUTO_TEST_CASE(CondVarWaitsOnAMutexLock) {
  util::Mutex mu;
  util::CondVar cv;
  bool ready = false;
  std::thread t([&] {
    util::MutexLock lock(&mu);
    ready = true;
    cv.notify_all();
  });
  {
    util::MutexLock lock(&mu);
    cv.wait(lock, [&] { return ready; });
    BOOST_TEST(ready);
  }
  t.join();
}

BOOST_AUTO_TEST_SUITE_END()
