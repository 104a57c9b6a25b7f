#pragma once

// The status icons of resources/icons (compiled into ":/icons/<name>.svg"):
// one per step status (circles) and one per overall status (rounded squares).

#include "orderhistory.h"
#include "sagastatus.h"

#include <QHash>
#include <QIcon>
#include <QPixmap>
#include <QString>

namespace StatusIcons {
QString iconName(StepStatus status);    // "step-completed", ...
QString iconName(OverallStatus status); // "overall-rolled-back", ...
QString iconName(TimelineStatus status);
QString resourcePath(const QString &name); // ":/icons/<name>.svg"
// A scalable icon (rendered by the SVG icon engine at whatever size and DPR is asked).
QIcon icon(const QString &name);
} // namespace StatusIcons

// Pixmaps of the status icons rendered at the device pixel ratio they are
// painted at, so they stay crisp on high-DPI screens. Owned by whoever paints
// (the delegate), filled on first use.
class StatusIconCache
{
public:
    QPixmap pixmap(const QString &name, int logicalSize, qreal devicePixelRatio);
    int size() const { return int(m_cache.size()); }

private:
    QHash<QString, QPixmap> m_cache;
};
