#pragma once

// Shared by the GUI tests that drive a ProgressSource (header only).

#include "eventbatcher.h"
#include "ordertreemodel.h"
#include "progresssource.h"

#include <QAbstractItemModelTester>
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

// An order model fed by a source as the main window feeds it (through a batcher;
// emptied when the source's contents are replaced), checked by QAbstractItemModelTester.
struct ShownOrders {
    OrderTreeModel model;
    QAbstractItemModelTester tester{&model, QAbstractItemModelTester::FailureReportingMode::QtTest};
    EventBatcher batcher{&model};
    void follow(ProgressSource *source)
    {
        QObject::connect(source, &ProgressSource::snapshotsReady, &batcher, &EventBatcher::addSnapshots);
        QObject::connect(source, &ProgressSource::eventsReady, &batcher, &EventBatcher::addEvents);
        QObject::connect(source, &ProgressSource::contentsReplaced, &model, [this] {
            batcher.clear();
            model.clear();
        });
    }
};

} // namespace GuiTest
