#include "faultinjector.h"

#include <QRandomGenerator>

void FaultInjector::setPlan(const FaultPlan &plan)
{
    QMutexLocker lock(&m_mutex);
    m_plan = plan;
}

FaultPlan FaultInjector::plan() const
{
    QMutexLocker lock(&m_mutex);
    return m_plan;
}

std::optional<StepFault> FaultInjector::take(SagaStep step, bool compensation)
{
    QMutexLocker lock(&m_mutex);
    StepFault &fault = m_plan[step];
    const bool applies = compensation ? fault.kind == StepFault::Kind::FailCompensation
                                      : (fault.kind == StepFault::Kind::Fail || fault.kind == StepFault::Kind::Delay
                                         || fault.kind == StepFault::Kind::Timeout);
    if (!applies)
        return std::nullopt;
    if (fault.probability < 1.0 && QRandomGenerator::global()->generateDouble() >= fault.probability)
        return std::nullopt;
    const StepFault fired = fault;
    if (fault.once)
        fault = StepFault{};
    return fired;
}
