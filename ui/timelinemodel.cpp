#include "timelinemodel.h"

#include "statusicons.h"

#include <QLocale>

TimelineModel::TimelineModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void TimelineModel::setHistory(const OrderHistory &history)
{
    if (history.timeline == m_history.timeline && history.orderId == m_history.orderId)
        return;
    // A new or grown timeline: entries are only ever appended for one order.
    // (Unless the new entries are on another day: then the rows before show their
    // dates too, which an insertion may not change.)
    const bool dated = showsDates(history);
    if (history.orderId == m_history.orderId && history.timeline.size() > m_history.timeline.size()
        && std::equal(m_history.timeline.cbegin(), m_history.timeline.cend(), history.timeline.cbegin())
        && dated == m_dated) {
        const int first = int(m_history.timeline.size());
        beginInsertRows({}, first, int(history.timeline.size()) - 1);
        m_history = history;
        endInsertRows();
        return;
    }
    beginResetModel();
    m_history = history;
    m_dated = dated;
    endResetModel();
}

void TimelineModel::clear()
{
    setHistory(OrderHistory{});
}

void TimelineModel::setDisplayUtc(bool utc)
{
    if (utc == m_utc)
        return;
    m_utc = utc;
    m_dated = showsDates(m_history); // (midnight is elsewhere in the other zone)
    if (!m_history.timeline.isEmpty())
        Q_EMIT dataChanged(index(0, TimeColumn), index(rowCount() - 1, ColumnCount - 1),
                           {Qt::DisplayRole, Qt::ToolTipRole});
}

QDateTime TimelineModel::shown(const QDateTime &t) const
{
    return m_utc ? t.toUTC() : t.toLocalTime();
}

// A history that spans more than one day where it is shown (a retry days later,
// a saga across midnight): its times then carry their dates, else the same time
// of day on two days reads as one.
bool TimelineModel::showsDates(const OrderHistory &history) const
{
    QDate first;
    for (const TimelineEntry &e : history.timeline) {
        const QDate day = shown(e.timestamp).date();
        if (!day.isValid())
            continue;
        if (first.isValid() && day != first)
            return true;
        first = day;
    }
    return false;
}

int TimelineModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_history.timeline.size());
}

int TimelineModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant TimelineModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid))
        return {};
    const TimelineEntry &e = m_history.timeline.at(index.row());
    const QString iconName = StatusIcons::iconName(e.status);
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case TimeColumn:
            return shown(e.timestamp).toString(m_dated ? QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz")
                                                       : QStringLiteral("HH:mm:ss.zzz"))
                + (m_utc ? QStringLiteral(" UTC") : QString());
        case TitleColumn:
            return e.title;
        case DescriptionColumn:
            if (e.error)
                return QStringLiteral("%1 — %2").arg(e.description, e.error->suggestedAction.isEmpty()
                                                                          ? e.error->message
                                                                          : e.error->suggestedAction);
            return e.description;
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == TitleColumn) {
            auto it = m_icons.find(iconName);
            if (it == m_icons.end())
                it = m_icons.insert(iconName, StatusIcons::icon(iconName));
            return *it;
        }
        break;
    case Qt::ToolTipRole:
        if (e.error)
            return QStringLiteral("%1: %2\n%3").arg(e.error->code, e.error->message, e.error->suggestedAction);
        // The whole date and time, in the zone the times are shown in.
        return QLocale().toString(shown(e.timestamp), QLocale::LongFormat);
    case IconNameRole:
        return iconName;
    case StatusRole:
        return toString(e.status);
    default:
        break;
    }
    return {};
}

QVariant TimelineModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case TimeColumn:
        return tr("Time");
    case TitleColumn:
        return tr("Event");
    case DescriptionColumn:
        return tr("Details");
    }
    return {};
}
