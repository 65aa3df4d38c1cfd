// Shows that the lock-contract check can fail: .ci/lint compiles this file with
// clang -Wthread-safety in -verify mode, which passes only if each line marked
// with an expected warning warns and no other line does. If util/mutex.h lost its
// attributes, the analysis would go quiet and the check would fail.
#include "util/mutex.h"

namespace {

struct Guarded {
  relate::util::Mutex mu;
  relate::util::SharedMutex shared_mu;
  relate::util::CondVar cv;
  int counter RELATE_GUARDED_BY(mu) = 0;
  int value RELATE_GUARDED_BY(shared_mu) = 0;

  void NeedsMu() RELATE_REQUIRES(mu) { ++counter; }

  void Right() {
    relate::util::MutexLock lock(&mu);
    NeedsMu();
    lock.Unlock();
    lock.Lock();
    cv.wait(lock, [&]() RELATE_REQUIRES(mu) { return counter > 0; });
  }
  int ReadShared() {
    relate::util::SharedLock lock(&shared_mu);
    return value;
  }
  void WriteExclusive() {
    relate::util::ExclusiveLock lock(&shared_mu);
    ++value;
  }

  void Unlocked() {
    ++counter;  // expected-warning {{requires holding mutex 'mu' exclusively}}
  }
  void CallsWithoutMu() {
    NeedsMu();  // expected-warning {{requires holding mutex 'mu' exclusively}}
  }
  void WritesUnderReaderLock() {
    relate::util::SharedLock lock(&shared_mu);
    ++value;  // expected-warning {{requires holding mutex 'shared_mu' exclusively}}
  }
  void AfterUnlock() {
    relate::util::MutexLock lock(&mu);
    lock.Unlock();
    ++counter;  // expected-warning {{requires holding mutex 'mu' exclusively}}
  }
};

}  // namespace

int main() {
  Guarded g;
  g.Right();
  g.WriteExclusive();
  return g.ReadShared() == 1 ? 0 : 1;
}
