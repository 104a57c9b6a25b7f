#include "orderevent.h"

#include "sagajson.h"

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
    if (i >= 0 && i < kEventTypeCount)
        return names[size_t(i)];
    return type == EventType::Unrecognized ? QStringLiteral("UNRECOGNIZED") : QString();
}

std::optional<EventType> eventTypeFromString(QStringView text)
{
    for (int i = 0; i < kEventTypeCount; ++i) {
        if (text == QLatin1String(kEventNames[i]))
            return EventType(i);
    }
    return std::nullopt;
}

QString eventTypeName(const OrderEvent &event)
{
    return event.type == EventType::Unrecognized ? event.typeName : toString(event.type);
}

void setEventType(OrderEvent *event, QStringView text)
{
    if (const std::optional<EventType> known = eventTypeFromString(text)) {
        event->type = *known;
        event->typeName.clear();
    } else {
        event->type = EventType::Unrecognized;
        event->typeName = text.toString();
    }
}

bool OrderEvent::operator==(const OrderEvent &o) const
{
    return orderId == o.orderId && seq == o.seq && position == o.position && type == o.type
           && step == o.step && timestamp == o.timestamp && details == o.details
           && error == o.error && typeName == o.typeName;
}

QDateTime resumedAttemptStart(const OrderEvent &event)
{
    if (event.type != EventType::StepCompleted && event.type != EventType::StepFailed)
        return {};
    if (event.type == EventType::StepFailed
        && event.details.value(QLatin1String("phase")).toString() == QLatin1String("COMPENSATION"))
        return {}; // the step's forward work ended before
    const QJsonValue value = event.details.value(QLatin1String("resumedAt"));
    if (!value.isString())
        return {};
    const std::optional<QDateTime> at = SagaJson::parseTimestamp(value.toString());
    if (!at || (event.timestamp.isValid() && *at > event.timestamp))
        return {};
    return *at;
}
