#include "stepcall.h"

QString stepIdempotencyKey(const QString &executionId, SagaStep step, StepAction action)
{
    static const char *const stepNames[] = {"inventory", "payment", "shipping"};
    static const char *const forwardNames[] = {"reserve", "authorize", "ship"};
    static const char *const reverseNames[] = {"release", "void", "cancel"};
    const int i = int(step);
    return executionId + QLatin1Char(':') + QLatin1String(stepNames[i]) + QLatin1Char(':')
        + QLatin1String(action == StepAction::Forward ? forwardNames[i] : reverseNames[i]);
}
