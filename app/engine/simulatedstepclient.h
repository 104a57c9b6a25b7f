#pragma once

#include "stepclient.h"

#include <QHash>
#include <QObject>
#include <memory>

class FaultInjector;

// In-process step services: the failure triggers of ARCHITECTURE.md, a latency
// per call, and the fault plan. Results are derived from the idempotency key, so
// a call driven again answers the same; compensating an action that never
// happened, or twice, reverses nothing (the effect ledger counts what happened).
class SimulatedStepClient : public StepClient
{
public:
    SimulatedStepClient(std::shared_ptr<FaultInjector> faults, int latencyMs, int timeoutMs);
    ~SimulatedStepClient() override;

    void call(const StepRequest &request, std::function<void(StepOutcome)> done) override;
    QString describe() const override;

    // Effect ledger (tests): how often the forward action with `key` took effect
    // (at most 1), and how often a reversal took effect for it.
    int effectCount(const QString &forwardKey) const { return m_effects.value(forwardKey); }
    int reversalCount(const QString &forwardKey) const { return m_reversals.value(forwardKey); }
    int callCount() const { return m_calls; }

private:
    StepOutcome perform(const StepRequest &request, bool injectedCompensationFailure);

    std::shared_ptr<FaultInjector> m_faults;
    int m_latencyMs = 0;
    int m_timeoutMs = 5000;
    int m_calls = 0;
    QHash<QString, int> m_effects;   // forward key -> 1 when it took effect
    QHash<QString, int> m_reversals; // forward key -> 1 when reversed
    std::unique_ptr<QObject> m_context; // timers' context: destroyed with the client
};
