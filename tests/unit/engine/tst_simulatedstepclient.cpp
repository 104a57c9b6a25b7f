// SimulatedStepClient: answers wait in one queue ordered by due time behind one
// timer. They come in due order (not call order) when delays differ, in call
// order when they are equal, never from inside call(), not before their delay,
// and never after the client is gone; a call made from an answer is answered too.
// StepContext: the forward steps' results, a later step's key winning.

#include "faultinjector.h"
#include "simulatedstepclient.h"

#include <QElapsedTimer>
#include <QtTest>

#include <memory>

class tst_SimulatedStepClient : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void answersInDueOrder();
    void equalDelaysKeepCallOrder();
    void neverAnswersInsideCallOrEarly();
    void destroyedClientAnswersNothing();
    void callFromAnAnswerIsAnswered();
    void ledgerKeepsTheLastEffects();
    void contextLaterStepWins();
};

namespace {

StepRequest request(SagaStep step, const QString &execution)
{
    StepRequest r;
    r.step = step;
    r.action = StepAction::Forward;
    r.orderId = QUuid::createUuid();
    r.executionId = execution;
    r.idempotencyKey = stepIdempotencyKey(execution, step, StepAction::Forward);
    r.customerId = QUuid::createUuid();
    r.items = {OrderItem{"p-1", "Thing", 1, 100}};
    r.paymentMethodId = "visa";
    r.shippingAddress = ShippingAddress{"1 Main", "Town", "ST", "12345", "US"};
    r.totalInCents = 100;
    return r;
}

} // namespace

void tst_SimulatedStepClient::answersInDueOrder()
{
    // Payment is delayed by the fault plan: 10 + 150 ms; the others take 10 ms.
    auto faults = std::make_shared<FaultInjector>();
    FaultPlan plan;
    plan[SagaStep::Payment].kind = StepFault::Kind::Delay;
    plan[SagaStep::Payment].delayMs = 150;
    plan[SagaStep::Payment].once = true;
    faults->setPlan(plan);
    SimulatedStepClient client(faults, 10, 5000);
    QStringList answered;
    client.call(request(SagaStep::Payment, "ex-slow"), [&](StepOutcome o) {
        QVERIFY(o.ok);
        answered << "slow";
    });
    client.call(request(SagaStep::Inventory, "ex-fast"), [&](StepOutcome o) {
        QVERIFY(o.ok);
        QVERIFY(o.result.value("reservationId").toString().startsWith("RES-"));
        answered << "fast";
    });
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 2, 5000);
    QCOMPARE(answered, (QStringList{"fast", "slow"}));
}

void tst_SimulatedStepClient::equalDelaysKeepCallOrder()
{
    SimulatedStepClient client(std::make_shared<FaultInjector>(), 5, 5000);
    QVector<int> answered;
    for (int i = 0; i < 200; ++i)
        client.call(request(SagaStep::Inventory, QStringLiteral("ex-%1").arg(i)), [&answered, i](StepOutcome) {
            answered << i;
        });
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 200, 5000);
    for (int i = 0; i < 200; ++i)
        QCOMPARE(answered[i], i);
    QCOMPARE(client.callCount(), 200);
}

void tst_SimulatedStepClient::neverAnswersInsideCallOrEarly()
{
    for (const int latency : {0, 40}) {
        SimulatedStepClient client(std::make_shared<FaultInjector>(), latency, 5000);
        bool inCall = true;
        bool answeredInCall = false;
        qint64 answeredAfter = -1;
        QElapsedTimer clock;
        clock.start();
        client.call(request(SagaStep::Shipping, "ex-1"), [&](StepOutcome o) {
            QVERIFY(o.ok);
            answeredInCall = inCall;
            answeredAfter = clock.elapsed();
        });
        inCall = false;
        QCOMPARE(answeredAfter, qint64(-1));
        QTRY_VERIFY_WITH_TIMEOUT(answeredAfter >= 0, 5000);
        QVERIFY(!answeredInCall);
        QVERIFY2(answeredAfter >= latency, qPrintable(QString::number(answeredAfter)));
    }
}

void tst_SimulatedStepClient::destroyedClientAnswersNothing()
{
    int answered = 0;
    {
        SimulatedStepClient client(std::make_shared<FaultInjector>(), 20, 5000);
        for (int i = 0; i < 10; ++i)
            client.call(request(SagaStep::Inventory, QStringLiteral("ex-%1").arg(i)), [&](StepOutcome) { ++answered; });
    }
    QTest::qWait(100);
    QCOMPARE(answered, 0);

    // A client destroyed by one of its own answers gives none of the others.
    auto client = std::make_unique<SimulatedStepClient>(std::make_shared<FaultInjector>(), 20, 5000);
    answered = 0;
    for (int i = 0; i < 5; ++i)
        client->call(request(SagaStep::Inventory, QStringLiteral("ex-%1").arg(i)), [&](StepOutcome) {
            ++answered;
            client.reset();
        });
    QTRY_VERIFY_WITH_TIMEOUT(!client, 5000);
    QTest::qWait(50);
    QCOMPARE(answered, 1);
}

void tst_SimulatedStepClient::callFromAnAnswerIsAnswered()
{
    SimulatedStepClient client(std::make_shared<FaultInjector>(), 5, 5000);
    QStringList answered;
    client.call(request(SagaStep::Inventory, "ex-1"), [&](StepOutcome first) {
        answered << first.result.value("reservationId").toString();
        client.call(request(SagaStep::Payment, "ex-1"), [&](StepOutcome second) {
            answered << second.result.value("authorizationId").toString();
        });
    });
    QTRY_COMPARE_WITH_TIMEOUT(answered.size(), 2, 5000);
    QVERIFY(answered[0].startsWith("RES-"));
    QVERIFY(answered[1].startsWith("AUTH-"));
    // The same key answers the same (idempotent), whenever it is driven.
    QString again;
    client.call(request(SagaStep::Inventory, "ex-1"),
                [&](StepOutcome o) { again = o.result.value("reservationId").toString(); });
    QTRY_VERIFY_WITH_TIMEOUT(!again.isEmpty(), 5000);
    QCOMPARE(again, answered[0]);
}

void tst_SimulatedStepClient::ledgerKeepsTheLastEffects()
{
    SimulatedStepClient client(std::make_shared<FaultInjector>(), 0, 5000, 10);
    int answered = 0;
    auto forward = [&](int i) {
        client.call(request(SagaStep::Inventory, QStringLiteral("ex-%1").arg(i)), [&](StepOutcome o) {
            QVERIFY(o.ok);
            ++answered;
        });
    };
    auto key = [](int i) {
        return stepIdempotencyKey(QStringLiteral("ex-%1").arg(i), SagaStep::Inventory, StepAction::Forward);
    };
    for (int i = 0; i < 25; ++i)
        forward(i);
    forward(24); // driven again: still one effect, no new ledger entry
    QTRY_COMPARE_WITH_TIMEOUT(answered, 26, 5000);
    QCOMPARE(client.ledgerSize(), 10);
    QCOMPARE(client.effectCount(key(24)), 1);
    QCOMPARE(client.effectCount(key(15)), 1);
    QCOMPARE(client.effectCount(key(14)), 0); // forgotten
    QCOMPARE(client.effectCount(key(0)), 0);
    // A compensation of a remembered effect is recorded, and forgotten with it.
    StepRequest undo = request(SagaStep::Inventory, "ex-20");
    undo.action = StepAction::Compensate;
    client.call(undo, [&](StepOutcome o) {
        QVERIFY(o.ok);
        ++answered;
    });
    QTRY_COMPARE_WITH_TIMEOUT(answered, 27, 5000);
    QCOMPARE(client.reversalCount(key(20)), 1);
    for (int i = 25; i < 40; ++i)
        forward(i);
    QTRY_COMPARE_WITH_TIMEOUT(answered, 42, 5000);
    QCOMPARE(client.ledgerSize(), 10);
    QCOMPARE(client.reversalCount(key(20)), 0);
    QCOMPARE(client.effectCount(key(39)), 1);
}

void tst_SimulatedStepClient::contextLaterStepWins()
{
    StepContext c;
    QVERIFY(c.isEmpty());
    QVERIFY(!c.contains(u"reservationId"));
    QVERIFY(c.value(u"reservationId").isUndefined());
    c.set(SagaStep::Inventory, QJsonObject{{"reservationId", "RES-1"}, {"note", "inventory"}});
    c.set(SagaStep::Payment, QJsonObject{{"authorizationId", "AUTH-1"}, {"amountInCents", 2100}});
    c.set(SagaStep::Shipping, QJsonObject{{"note", "shipping"}, {"estimatedDelivery", "2026-12-11"}});
    QVERIFY(!c.isEmpty());
    QCOMPARE(c.value(QStringLiteral("reservationId")).toString(), QStringLiteral("RES-1"));
    QCOMPARE(c.value(QLatin1String("authorizationId")).toString(), QStringLiteral("AUTH-1"));
    QCOMPARE(c.value(u"amountInCents").toInteger(), 2100);
    QVERIFY(c.contains(u"estimatedDelivery"));
    // The same key from two steps: the later step's value, as a merge in step order gives.
    QCOMPARE(c.value(u"note").toString(), QStringLiteral("shipping"));
    // Order of set() does not matter: it is the step that counts.
    StepContext d;
    d.set(SagaStep::Shipping, QJsonObject{{"note", "shipping"}});
    d.set(SagaStep::Inventory, QJsonObject{{"note", "inventory"}});
    QCOMPARE(d.value(u"note").toString(), QStringLiteral("shipping"));
    c.clear();
    QVERIFY(c.isEmpty());
    QVERIFY(c.value(u"note").isUndefined());
}

QTEST_GUILESS_MAIN(tst_SimulatedStepClient)
#include "tst_simulatedstepclient.moc"
