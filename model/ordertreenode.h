#pragma once

#include "orderprogress.h"

// One top-level row of OrderTreeModel: an order and its position. Plain data, no
// QObject. The three step rows are not separate objects: a step index carries a
// pointer to its order's node (QModelIndex::internalPointer) and its row is the
// SagaStep; order indexes carry nullptr.
class OrderTreeNode
{
public:
    OrderTreeNode(const QUuid &orderId, int row) : progress(orderId), m_row(row) {}

    int row() const { return m_row; }
    void setRow(int row) { m_row = row; }

    OrderProgress progress;
    int touchIndex = -1; // position in the model's per-batch change list, -1 when untouched
    bool inserted = false;

private:
    int m_row = 0;
};
