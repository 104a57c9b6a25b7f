#include "stepcall.h"

#include <QStringBuilder>

QString stepIdempotencyKey(const QString &executionId, SagaStep step, StepAction action)
{
    static const char *const stepNames[] = {"inventory", "payment", "shipping"};
    static const char *const forwardNames[] = {"reserve", "authorize", "ship"};
    static const char *const reverseNames[] = {"release", "void", "cancel"};
    const int i = int(step);
    // operator% (QStringBuilder): the size is worked out first, one allocation.
    return executionId % QLatin1Char(':') % QLatin1String(stepNames[i]) % QLatin1Char(':')
        % QLatin1String(action == StepAction::Forward ? forwardNames[i] : reverseNames[i]);
}

bool StepContext::contains(QStringView key) const
{
    return !value(key).isUndefined();
}

QJsonValue StepContext::value(QStringView key) const
{
    for (auto r = m_results.crbegin(); r != m_results.crend(); ++r) {
        const QJsonValue v = r->value(key);
        if (!v.isUndefined())
            return v;
    }
    return QJsonValue(QJsonValue::Undefined);
}

bool StepContext::isEmpty() const
{
    for (const QJsonObject &r : m_results) {
        if (!r.isEmpty())
            return false;
    }
    return true;
}
