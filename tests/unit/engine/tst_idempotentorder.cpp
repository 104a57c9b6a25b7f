// IdempotentOrder: which Idempotency-Keys are accepted, the order id a key names
// (the same on every engine, per customer, version 8) and the request digest
// (every field that makes an order another order).

#include "idempotentorder.h"

#include <QTest>

namespace {

OrderRequest order()
{
    OrderRequest r;
    r.customerId = QUuid(QStringLiteral("3f1c0e9e-0000-4000-8000-000000000001"));
    r.items = {OrderItem{QStringLiteral("widget-1"), QStringLiteral("Widget"), 2, 1250}};
    r.paymentMethodId = QStringLiteral("good-card");
    r.shippingAddress = ShippingAddress{QStringLiteral("1 Main St"), QStringLiteral("Springfield"), QStringLiteral("IL"),
                                        QStringLiteral("62701"), QStringLiteral("US")};
    return r;
}

} // namespace

class tst_IdempotentOrder : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void validKeys_data();
    void validKeys();
    void orderIdIsPerCustomerAndKey();
    void digestCoversTheOrder();
};

void tst_IdempotentOrder::validKeys_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<bool>("valid");
    QTest::newRow("uuid") << QByteArray("9d1c6a52-3b8e-4f0a-9e55-0c2b7d41a001") << true;
    QTest::newRow("one character") << QByteArray("x") << true;
    QTest::newRow("255 characters") << QByteArray(255, '~') << true;
    QTest::newRow("inner space") << QByteArray("a b") << true;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("256 characters") << QByteArray(256, 'k') << false;
    QTest::newRow("not ASCII") << QByteArray("cl\xc3\xa9") << false;
    QTest::newRow("control character") << QByteArray("a\tb") << false;
    QTest::newRow("DEL") << QByteArray("a\x7f") << false;
}

void tst_IdempotentOrder::validKeys()
{
    QFETCH(QByteArray, key);
    QFETCH(bool, valid);
    QCOMPARE(IdempotentOrder::isValidKey(key), valid);
}

void tst_IdempotentOrder::orderIdIsPerCustomerAndKey()
{
    const QUuid customer = order().customerId;
    const QUuid other = QUuid(QStringLiteral("3f1c0e9e-0000-4000-8000-000000000002"));
    const QUuid id = IdempotentOrder::orderId(customer, QStringLiteral("k-1"));
    QCOMPARE(IdempotentOrder::orderId(customer, QStringLiteral("k-1")), id);
    QVERIFY(IdempotentOrder::orderId(customer, QStringLiteral("k-2")) != id);
    QVERIFY(IdempotentOrder::orderId(other, QStringLiteral("k-1")) != id);
    QVERIFY(IdempotentOrder::isKeyedId(id));
    QCOMPARE(id.variant(), QUuid::DCE);
    QVERIFY(!IdempotentOrder::isKeyedId(QUuid::createUuid()));
    // Fixed for all time: stored orders are found by it after an upgrade.
    QCOMPARE(id.toString(QUuid::WithoutBraces), QStringLiteral("fb57fcee-b2e8-853f-90e8-eb3b52838eb8"));
}

void tst_IdempotentOrder::digestCoversTheOrder()
{
    const QString digest = IdempotentOrder::requestDigest(order());
    QCOMPARE(digest.size(), 64);
    QCOMPARE(IdempotentOrder::requestDigest(order()), digest);
    OrderRequest traced = order();
    traced.traceId = QStringLiteral("0af7651916cd43dd8448eb211c80319c");
    traced.idempotencyKey = QStringLiteral("k-1");
    QCOMPARE(IdempotentOrder::requestDigest(traced), digest); // not part of what was ordered
    QList<OrderRequest> others;
    for (int i = 0; i < 9; ++i)
        others << order();
    others[0].items[0].productId = QStringLiteral("widget-2");
    others[1].items[0].productName = QStringLiteral("Gadget");
    others[2].items[0].quantity = 3;
    others[3].items[0].unitPriceInCents = 1251;
    others[4].paymentMethodId = QStringLiteral("other-card");
    others[5].shippingAddress.street = QStringLiteral("2 Main St");
    others[6].shippingAddress.postalCode = QStringLiteral("62702");
    others[7].customerId = QUuid::createUuid();
    others[8].items.append(OrderItem{QStringLiteral("gadget-7"), QStringLiteral("Gadget"), 1, 4999});
    for (const OrderRequest &other : std::as_const(others))
        QVERIFY(IdempotentOrder::requestDigest(other) != digest);
}

QTEST_GUILESS_MAIN(tst_IdempotentOrder)
#include "tst_idempotentorder.moc"
