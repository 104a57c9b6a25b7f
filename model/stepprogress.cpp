#include "stepprogress.h"

qint64 StepProgress::durationMs() const
{
    const QDateTime &from = workStartedAt();
    if (!from.isValid() || !completedAt.isValid())
        return -1;
    return completedAt.toMSecsSinceEpoch() - from.toMSecsSinceEpoch();
}

bool StepProgress::operator==(const StepProgress &o) const
{
    return step == o.step && status == o.status && startedAt == o.startedAt
           && completedAt == o.completedAt && resumedAt == o.resumedAt && errorCode == o.errorCode
           && errorMessage == o.errorMessage;
}
