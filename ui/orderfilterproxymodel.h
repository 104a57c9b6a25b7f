#pragma once

#include "sagastatus.h"

#include <QSortFilterProxyModel>

class OrderTreeModel;

// Sort and filter for the order tree: search text (order id, order number,
// customer, status, failure code and message via SearchTextRole), a set of overall statuses, sorting by any
// column through SortRole. Filtering is decided on the order row; its step rows
// follow it (they are never matched on their own), and steps always keep their
// saga order whatever column the orders are sorted by.
class OrderFilterProxyModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    // A set of OverallStatus values, one bit each (bit = 1 << int(status)). A status
    // outside the enum (a row whose RawStatusRole is none of them, e.g. a newer
    // server's) has no bit: it is shown only while no status filter is set.
    using StatusMask = quint32;
    static_assert(kOverallStatusCount > 0 && kOverallStatusCount < int(sizeof(StatusMask) * 8),
                  "every OverallStatus needs a bit of StatusMask, and kAllStatuses one more");
    static constexpr StatusMask kAllStatuses = (StatusMask(1) << kOverallStatusCount) - 1;
    static constexpr StatusMask bit(OverallStatus s) { return statusBit(int(s)); }
    // The bit of a raw status value; 0 for a value outside the enum.
    static constexpr StatusMask statusBit(int status)
    {
        return status >= 0 && status < kOverallStatusCount ? StatusMask(1) << status : StatusMask(0);
    }

    explicit OrderFilterProxyModel(QObject *parent = nullptr);

    void setSearchText(const QString &text);
    QString searchText() const { return m_search; }
    void setStatusMask(StatusMask mask);
    StatusMask statusMask() const { return m_statusMask; }

    // An order row that is shown has its three steps shown (see filterAcceptsRow),
    // so this answers without the proxy building a child mapping per order (which
    // for 100,000 orders costs memory, and time in every relayout of the view).
    bool hasChildren(const QModelIndex &parent = QModelIndex()) const override;

    void setSourceModel(QAbstractItemModel *source) override;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    bool orderMatches(const QModelIndex &sourceOrder) const;

    const OrderTreeModel *m_orders = nullptr; // the source when it is an OrderTreeModel
    QString m_search;
    StatusMask m_statusMask = kAllStatuses;
};
