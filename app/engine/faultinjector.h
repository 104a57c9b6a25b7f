#pragma once

#include "faultplan.h"

#include <QMutex>
#include <optional>

// The fault plan of the simulated steps, shared between the EngineHost (any
// thread sets it) and the step client in the engine thread. Thread-safe.
class FaultInjector
{
public:
    void setPlan(const FaultPlan &plan);
    FaultPlan plan() const;
    // Rolls the dice for one call: returns the fault to apply to a forward call
    // (Fail, Delay, Timeout) or to a compensation (FailCompensation), and disarms
    // a `once` fault that fired.
    std::optional<StepFault> take(SagaStep step, bool compensation);

private:
    mutable QMutex m_mutex;
    FaultPlan m_plan;
};
