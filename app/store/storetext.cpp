#include "storetext.h"

#include <QJsonDocument>
#include <QJsonObject>

namespace StoreText {

QString idText(const QUuid &id)
{
    return id.toString(QUuid::WithoutBraces);
}

QDateTime fromMs(const QVariant &v)
{
    if (v.isNull())
        return {};
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

qint64 toMs(const QDateTime &dt)
{
    return dt.isValid() ? dt.toMSecsSinceEpoch() : QDateTime::currentMSecsSinceEpoch();
}

bool isTerminalOverall(OverallStatus s)
{
    return s == OverallStatus::Completed || s == OverallStatus::Failed || s == OverallStatus::RolledBack;
}

QString outcomeFor(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Completed:
        return QStringLiteral("SUCCESS");
    case OverallStatus::RolledBack:
        return QStringLiteral("COMPENSATED");
    case OverallStatus::Failed:
        return QStringLiteral("FAILED");
    default:
        return QStringLiteral("IN_PROGRESS");
    }
}

QString overallText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("QUEUED");
    case OverallStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("ROLLING_BACK");
    case OverallStatus::RolledBack: return QStringLiteral("ROLLED_BACK");
    }
    return {};
}

QString recordText(OverallStatus s)
{
    switch (s) {
    case OverallStatus::Queued: return QStringLiteral("PENDING");
    case OverallStatus::InProgress: return QStringLiteral("PROCESSING");
    case OverallStatus::Completed: return QStringLiteral("COMPLETED");
    case OverallStatus::Failed: return QStringLiteral("FAILED");
    case OverallStatus::RollingBack: return QStringLiteral("COMPENSATING");
    case OverallStatus::RolledBack: return QStringLiteral("COMPENSATED");
    }
    return {};
}

QString stepStatusText(StepStatus s)
{
    switch (s) {
    case StepStatus::Pending: return QStringLiteral("PENDING");
    case StepStatus::InProgress: return QStringLiteral("IN_PROGRESS");
    case StepStatus::Completed: return QStringLiteral("COMPLETED");
    case StepStatus::Failed: return QStringLiteral("FAILED");
    case StepStatus::Compensating: return QStringLiteral("COMPENSATING");
    case StepStatus::Compensated: return QStringLiteral("COMPENSATED");
    case StepStatus::Skipped: return QStringLiteral("SKIPPED");
    }
    return {};
}

std::optional<OverallStatus> overallFromText(const QString &t)
{
    for (int i = 0; i < kOverallStatusCount; ++i) {
        if (overallText(OverallStatus(i)) == t)
            return OverallStatus(i);
    }
    return std::nullopt;
}

QByteArray eventDetailsJson(const OrderEvent &e)
{
    QJsonObject d = e.details;
    if (!e.error.isNull())
        d.insert(QStringLiteral("error"),
                 QJsonObject{{QStringLiteral("code"), e.error.code}, {QStringLiteral("message"), e.error.message}});
    return QJsonDocument(d).toJson(QJsonDocument::Compact);
}

void setEventDetails(OrderEvent &e, const QByteArray &json)
{
    QJsonObject d = QJsonDocument::fromJson(json).object();
    e.error = ErrorInfo();
    if (d.contains(QLatin1String("error"))) {
        const QJsonObject err = d.take(QLatin1String("error")).toObject();
        e.error.code = err.value(QLatin1String("code")).toString();
        e.error.message = err.value(QLatin1String("message")).toString();
    }
    e.details = std::move(d);
}

} // namespace StoreText
