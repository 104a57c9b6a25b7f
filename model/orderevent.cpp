#include "orderevent.h"

#include <array>

namespace {
constexpr const char *kEventNames[kEventTypeCount] = {
    "SAGA_STARTED",         "STEP_STARTED",     "STEP_COMPLETED", "STEP_FAILED",
    "COMPENSATION_STARTED", "STEP_COMPENSATED", "SAGA_COMPLETED", "SAGA_FAILED",
};
} // namespace

QString toString(EventType type)
{
    static const std::array<QString, kEventTypeCount> names = [] {
        std::array<QString, kEventTypeCount> a;
        for (int i = 0; i < kEventTypeCount; ++i)
            a[size_t(i)] = QString::fromLatin1(kEventNames[i]);
        return a;
    }();
    const int i = int(type);
    return (i >= 0 && i < kEventTypeCount) ? names[size_t(i)] : QString();
}

std::optional<EventType> eventTypeFromString(QStringView text)
{
    for (int i = 0; i < kEventTypeCount; ++i) {
        if (text == QLatin1String(kEventNames[i]))
            return EventType(i);
    }
    return std::nullopt;
}

bool OrderEvent::operator==(const OrderEvent &o) const
{
    return orderId == o.orderId && seq == o.seq && position == o.position && type == o.type
           && step == o.step && timestamp == o.timestamp && details == o.details
           && error == o.error;
}
