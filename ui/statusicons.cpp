#include "statusicons.h"

#include "sagalog.h"

#include <QPainter>
#include <QSvgRenderer>
#include <cmath>

namespace StatusIcons {

QString iconName(StepStatus status)
{
    switch (status) {
    case StepStatus::Pending:
        return QStringLiteral("step-pending");
    case StepStatus::InProgress:
        return QStringLiteral("step-in-progress");
    case StepStatus::Completed:
        return QStringLiteral("step-completed");
    case StepStatus::Failed:
        return QStringLiteral("step-failed");
    case StepStatus::Compensating:
        return QStringLiteral("step-compensating");
    case StepStatus::Compensated:
        return QStringLiteral("step-compensated");
    case StepStatus::Skipped:
        return QStringLiteral("step-skipped");
    }
    return {};
}

QString iconName(OverallStatus status)
{
    switch (status) {
    case OverallStatus::Queued:
        return QStringLiteral("overall-queued");
    case OverallStatus::InProgress:
        return QStringLiteral("overall-in-progress");
    case OverallStatus::Completed:
        return QStringLiteral("overall-completed");
    case OverallStatus::Failed:
        return QStringLiteral("overall-failed");
    case OverallStatus::RollingBack:
        return QStringLiteral("overall-rolling-back");
    case OverallStatus::RolledBack:
        return QStringLiteral("overall-rolled-back");
    }
    return {};
}

QString iconName(TimelineStatus status)
{
    switch (status) {
    case TimelineStatus::Success:
        return iconName(StepStatus::Completed);
    case TimelineStatus::Failed:
        return iconName(StepStatus::Failed);
    case TimelineStatus::Compensated:
        return iconName(StepStatus::Compensated);
    case TimelineStatus::Skipped:
        return iconName(StepStatus::Skipped);
    case TimelineStatus::Neutral:
        return iconName(StepStatus::Pending);
    }
    return {};
}

QString resourcePath(const QString &name)
{
    return QStringLiteral(":/icons/%1.svg").arg(name);
}

QIcon icon(const QString &name)
{
    return QIcon(resourcePath(name));
}

} // namespace StatusIcons

QPixmap StatusIconCache::pixmap(const QString &name, int logicalSize, qreal devicePixelRatio)
{
    const int device = int(std::ceil(logicalSize * devicePixelRatio));
    const QString key = name + QLatin1Char('@') + QString::number(device);
    auto it = m_cache.constFind(key);
    if (it != m_cache.constEnd())
        return *it;
    QPixmap pixmap(device, device);
    pixmap.fill(Qt::transparent);
    QSvgRenderer renderer(StatusIcons::resourcePath(name));
    if (!renderer.isValid()) {
        qCWarning(lcUi).noquote() << "missing status icon" << StatusIcons::resourcePath(name);
    } else {
        QPainter p(&pixmap);
        p.setRenderHint(QPainter::Antialiasing);
        renderer.render(&p, QRectF(0, 0, device, device));
    }
    pixmap.setDevicePixelRatio(devicePixelRatio);
    m_cache.insert(key, pixmap);
    return pixmap;
}
