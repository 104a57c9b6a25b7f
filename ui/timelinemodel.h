#pragma once

#include "orderhistory.h"

#include <QAbstractTableModel>
#include <QIcon>

// The history timeline of one order for the detail panel: time, title (with the
// outcome icon), description, error and suggested action.
class TimelineModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum Column { TimeColumn, TitleColumn, DescriptionColumn, ColumnCount };
    enum Role { IconNameRole = Qt::UserRole + 1, StatusRole };

    explicit TimelineModel(QObject *parent = nullptr);

    void setHistory(const OrderHistory &history);
    void clear();
    const OrderHistory &history() const { return m_history; }
    void setDisplayUtc(bool utc);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    QDateTime shown(const QDateTime &t) const; // in UTC or local time, as set
    bool showsDates(const OrderHistory &history) const;

    OrderHistory m_history;
    mutable QHash<QString, QIcon> m_icons;
    bool m_utc = true;
    bool m_dated = false; // showsDates(m_history), kept as either changes
};
