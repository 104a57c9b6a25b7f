#include "stepprogress.h"

qint64 StepProgress::durationMs() const
{
    if (!startedAt.isValid() || !completedAt.isValid())
        return -1;
    return completedAt.toMSecsSinceEpoch() - startedAt.toMSecsSinceEpoch();
}

bool StepProgress::operator==(const StepProgress &o) const
{
    return step == o.step && status == o.status && startedAt == o.startedAt
           && completedAt == o.completedAt && errorCode == o.errorCode
           && errorMessage == o.errorMessage;
}
