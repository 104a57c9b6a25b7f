#include "orderrecord.h"

#include <limits>

qint64 OrderRequest::totalInCents() const
{
    qint64 total = 0;
    for (const OrderItem &item : items) {
        qint64 line = 0;
        if (item.quantity > 0 && item.unitPriceInCents > 0
            && item.unitPriceInCents > std::numeric_limits<qint64>::max() / item.quantity)
            return std::numeric_limits<qint64>::max();
        line = item.unitPriceInCents * item.quantity;
        if (line > 0 && total > std::numeric_limits<qint64>::max() - line)
            return std::numeric_limits<qint64>::max();
        total += line;
    }
    return total;
}
