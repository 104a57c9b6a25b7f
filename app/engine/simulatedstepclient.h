#pragma once

#include "stepclient.h"

#include <QElapsedTimer>
#include <QHash>
#include <QTimer>
#include <deque>
#include <functional>
#include <map>
#include <memory>

class FaultInjector;

// In-process step services: the failure triggers of ARCHITECTURE.md, a latency
// per call, and the fault plan. Results are derived from the idempotency key, so
// a call driven again answers the same; compensating an action that never
// happened, or twice, reverses nothing (the effect ledger counts what happened).
class SimulatedStepClient : public StepClient
{
public:
    // The effect ledger remembers the last `ledgerLimit` forward actions that took
    // effect (older ones are forgotten: a long demo or a simulated saga-server would
    // otherwise keep three keys per saga forever).
    static constexpr int kDefaultLedgerLimit = 50000;
    SimulatedStepClient(std::shared_ptr<FaultInjector> faults, int latencyMs, int timeoutMs,
                        int ledgerLimit = kDefaultLedgerLimit);
    ~SimulatedStepClient() override;

    void call(const StepRequest &request, std::function<void(StepOutcome)> done) override;
    QString describe() const override;

    // Effect ledger (tests): how often the forward action with `key` took effect
    // (at most 1), and how often a reversal took effect for it.
    int effectCount(const QString &forwardKey) const { return m_effects.value(forwardKey); }
    int reversalCount(const QString &forwardKey) const { return m_reversals.value(forwardKey); }
    int ledgerSize() const { return int(m_effects.size()); }
    int callCount() const { return m_calls; }

private:
    StepOutcome perform(const StepRequest &request, bool injectedCompensationFailure);
    // Runs `fn` after `delayMs` (never from inside call()). Every answer waits in
    // one queue ordered by due time behind one timer: with thousands of calls out,
    // a QTimer per call made registering and unregistering timers (a linear
    // search of the thread's timer list) a noticeable part of the engine thread.
    void after(int delayMs, std::function<void()> fn);
    void fireDue();
    // Marks the forward action `forwardKey` as having taken effect (once), forgetting
    // the oldest beyond the ledger limit.
    void recordEffect(const QString &forwardKey);

    std::shared_ptr<FaultInjector> m_faults;
    int m_latencyMs = 0;
    int m_timeoutMs = 5000;
    int m_calls = 0;
    int m_ledgerLimit = kDefaultLedgerLimit;
    QHash<QString, int> m_effects;   // forward key -> 1 when it took effect
    QHash<QString, int> m_reversals; // forward key -> 1 when reversed
    std::deque<QString> m_ledgerOrder; // keys of m_effects, oldest first
    // Answers not given yet, by due time (ms of m_clock); equal times in call order.
    std::multimap<qint64, std::function<void()>> m_due;
    QElapsedTimer m_clock;
    QTimer m_timer; // single shot, at the earliest due time; stops with the client
    std::shared_ptr<int> m_alive = std::make_shared<int>(0); // expires with the client
};
