#include "orderfilterproxymodel.h"

#include "ordertreemodel.h"

#include <QDateTime>
#include <QUuid>

OrderFilterProxyModel::OrderFilterProxyModel(QObject *parent)
    : QSortFilterProxyModel(parent)
{
    setSortRole(OrderTreeModel::SortRole);
    // Naming SearchTextRole as the filter role makes the proxy re-filter a row when
    // dataChanged carries it: the model announces it whenever anything the filter
    // reads changes (the status included, which is part of the search text).
    setFilterRole(OrderTreeModel::SearchTextRole);
    setRecursiveFilteringEnabled(true);
    setDynamicSortFilter(true);
    setSortCaseSensitivity(Qt::CaseInsensitive);
}

void OrderFilterProxyModel::setSourceModel(QAbstractItemModel *source)
{
    m_orders = qobject_cast<const OrderTreeModel *>(source);
    QSortFilterProxyModel::setSourceModel(source);
}

void OrderFilterProxyModel::setSearchText(const QString &text)
{
    const QString trimmed = text.trimmed();
    if (trimmed == m_search)
        return;
    m_search = trimmed;
    invalidateFilter();
}

void OrderFilterProxyModel::setStatusMask(StatusMask mask)
{
    mask &= kAllStatuses;
    if (mask == 0)
        mask = kAllStatuses;
    if (mask == m_statusMask)
        return;
    m_statusMask = mask;
    invalidateFilter();
}

bool OrderFilterProxyModel::orderMatches(const QModelIndex &order) const
{
    if (m_statusMask != kAllStatuses) {
        // A status outside the enum, or none, matches no specific status (statusBit).
        bool known = false;
        const int status = order.data(OrderTreeModel::RawStatusRole).toInt(&known);
        if (!known || !(m_statusMask & statusBit(status)))
            return false;
    }
    if (m_search.isEmpty())
        return true;
    return order.data(OrderTreeModel::SearchTextRole).toString().contains(m_search, Qt::CaseInsensitive);
}

bool OrderFilterProxyModel::hasChildren(const QModelIndex &parent) const
{
    if (!parent.isValid() || !sourceModel())
        return QSortFilterProxyModel::hasChildren(parent);
    // The source answers 0 for steps and for cells other than the first.
    return sourceModel()->rowCount(mapToSource(parent)) > 0;
}

bool OrderFilterProxyModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (sourceParent.isValid()) // a step: shown exactly when its order is
        return orderMatches(sourceParent.siblingAtColumn(0));
    return orderMatches(sourceModel()->index(sourceRow, 0));
}

bool OrderFilterProxyModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    if (left.parent().isValid()) {
        // Steps stay in saga order in both sort directions.
        const bool ascending = sortOrder() == Qt::AscendingOrder;
        return ascending ? left.row() < right.row() : left.row() > right.row();
    }
    if (m_orders && left.column() == OrderTreeModel::OrderNumberColumn && sortRole() == OrderTreeModel::SortRole) {
        // The default sort (order number), on every insert of a large load: the
        // comparison below on the same text (the column's SortRole and DisplayRole
        // are both OrderTreeModel::orderNumberText()), without two QVariants.
        const OrderProgress *l = m_orders->orderAt(left);
        const OrderProgress *r = m_orders->orderAt(right);
        if (l && r) {
            if (!l->orderNumber.isEmpty() && !r->orderNumber.isEmpty())
                return l->orderNumber < r->orderNumber;
            return OrderTreeModel::orderNumberText(*l) < OrderTreeModel::orderNumberText(*r);
        }
    }
    const QVariant l = left.data(sortRole());
    const QVariant r = right.data(sortRole());
    const QPartialOrdering order = QVariant::compare(l, r);
    if (order == QPartialOrdering::Less)
        return true;
    if (order == QPartialOrdering::Greater)
        return false;
    if (l.isValid() != r.isValid()) // empty values (no ETA, ...) sort first
        return !l.isValid();
    // Stable and deterministic for equal keys: newest order number last.
    return left.data(Qt::DisplayRole).toString() < right.data(Qt::DisplayRole).toString();
}
