#pragma once

// Shared by the GUI tests that drive a ProgressSource (header only).

#include "ordertreemodel.h"
#include "progresssource.h"

#include <QObject>
#include <QTest>
#include <QUuid>

namespace GuiTest {

// Places `request` through `source` and waits up to `timeoutMs` for the answer:
// the order's id, or a null id with *error saying why ("no answer" when none came).
inline QUuid place(ProgressSource *source, const OrderRequest &request, QString *error, int timeoutMs = 30000)
{
    QUuid id;
    bool answered = false;
    QObject context;
    source->placeOrder(request, &context, [&](PlaceOrderResult r) {
        answered = true;
        id = r.orderId;
        *error = r.error;
    });
    if (!QTest::qWaitFor([&] { return answered; }, timeoutMs))
        *error = QStringLiteral("no answer");
    return id;
}

// The overall status `model` shows for the order ("COMPLETED"), empty when it shows none.
inline QString statusName(const OrderTreeModel &model, const QUuid &id)
{
    const OrderProgress *p = model.order(id);
    return p ? toString(p->overallStatus) : QString();
}

} // namespace GuiTest
