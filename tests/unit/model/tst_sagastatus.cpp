#include "orderevent.h"
#include "sagastatus.h"

#include <QtTest>
#include <set>

// The transition tables are written out here independently of the
// implementation: every pair of statuses is a row with its expected legality.

Q_DECLARE_METATYPE(StepStatus)
Q_DECLARE_METATYPE(OverallStatus)

class tst_SagaStatus : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void stepTransitions_data();
    void stepTransitions();
    void overallTransitions_data();
    void overallTransitions();
    void stepStatusStrings_data();
    void stepStatusStrings();
    void overallStatusStrings_data();
    void overallStatusStrings();
    void recordStatusStrings();
    void unknownStrings_data();
    void unknownStrings();
    void stepNames();
    void eventTypeStrings();
    void terminal();
    void recordStatusFor_data();
    void recordStatusFor();
};

void tst_SagaStatus::stepTransitions_data()
{
    using S = StepStatus;
    const std::set<std::pair<S, S>> legal{
        {S::Pending, S::InProgress},     {S::Pending, S::Skipped},
        {S::InProgress, S::Completed},   {S::InProgress, S::Failed},
        {S::Completed, S::Compensating}, {S::Compensating, S::Compensated},
        {S::Compensating, S::Failed},    {S::Failed, S::Pending},
        {S::Compensated, S::Pending},    {S::Skipped, S::Pending},
    };
    QTest::addColumn<StepStatus>("from");
    QTest::addColumn<StepStatus>("to");
    QTest::addColumn<bool>("legal");
    int rows = 0;
    for (int f = 0; f < kStepStatusCount; ++f) {
        for (int t = 0; t < kStepStatusCount; ++t) {
            const S from = S(f);
            const S to = S(t);
            const QByteArray name = (toString(from) + QStringLiteral("->") + toString(to)).toLatin1();
            QTest::newRow(name.constData()) << from << to << (legal.count({from, to}) == 1);
            ++rows;
        }
    }
    QCOMPARE(rows, 49);
}

void tst_SagaStatus::stepTransitions()
{
    QFETCH(StepStatus, from);
    QFETCH(StepStatus, to);
    QFETCH(bool, legal);
    QCOMPARE(isLegalTransition(from, to), legal);
}

void tst_SagaStatus::overallTransitions_data()
{
    using O = OverallStatus;
    const std::set<std::pair<O, O>> legal{
        {O::Queued, O::InProgress},      {O::Queued, O::Failed},
        {O::InProgress, O::Completed},   {O::InProgress, O::Failed},
        {O::InProgress, O::RollingBack}, {O::RollingBack, O::RolledBack},
        {O::RollingBack, O::Failed},     {O::Failed, O::Queued},
        {O::RolledBack, O::Queued},
    };
    QTest::addColumn<OverallStatus>("from");
    QTest::addColumn<OverallStatus>("to");
    QTest::addColumn<bool>("legal");
    int rows = 0;
    for (int f = 0; f < kOverallStatusCount; ++f) {
        for (int t = 0; t < kOverallStatusCount; ++t) {
            const O from = O(f);
            const O to = O(t);
            const QByteArray name = (toString(from) + QStringLiteral("->") + toString(to)).toLatin1();
            QTest::newRow(name.constData()) << from << to << (legal.count({from, to}) == 1);
            ++rows;
        }
    }
    QCOMPARE(rows, 36);
}

void tst_SagaStatus::overallTransitions()
{
    QFETCH(OverallStatus, from);
    QFETCH(OverallStatus, to);
    QFETCH(bool, legal);
    QCOMPARE(isLegalTransition(from, to), legal);
}

void tst_SagaStatus::stepStatusStrings_data()
{
    QTest::addColumn<StepStatus>("status");
    QTest::addColumn<QString>("text");
    QTest::newRow("pending") << StepStatus::Pending << "PENDING";
    QTest::newRow("in progress") << StepStatus::InProgress << "IN_PROGRESS";
    QTest::newRow("completed") << StepStatus::Completed << "COMPLETED";
    QTest::newRow("failed") << StepStatus::Failed << "FAILED";
    QTest::newRow("compensating") << StepStatus::Compensating << "COMPENSATING";
    QTest::newRow("compensated") << StepStatus::Compensated << "COMPENSATED";
    QTest::newRow("skipped") << StepStatus::Skipped << "SKIPPED";
}

void tst_SagaStatus::stepStatusStrings()
{
    QFETCH(StepStatus, status);
    QFETCH(QString, text);
    QCOMPARE(toString(status), text);
    QCOMPARE(stepStatusFromString(text), std::optional<StepStatus>(status));
}

void tst_SagaStatus::overallStatusStrings_data()
{
    QTest::addColumn<OverallStatus>("status");
    QTest::addColumn<QString>("text");
    QTest::newRow("queued") << OverallStatus::Queued << "QUEUED";
    QTest::newRow("in progress") << OverallStatus::InProgress << "IN_PROGRESS";
    QTest::newRow("completed") << OverallStatus::Completed << "COMPLETED";
    QTest::newRow("failed") << OverallStatus::Failed << "FAILED";
    QTest::newRow("rolling back") << OverallStatus::RollingBack << "ROLLING_BACK";
    QTest::newRow("rolled back") << OverallStatus::RolledBack << "ROLLED_BACK";
}

void tst_SagaStatus::overallStatusStrings()
{
    QFETCH(OverallStatus, status);
    QFETCH(QString, text);
    QCOMPARE(toString(status), text);
    QCOMPARE(overallStatusFromString(text), std::optional<OverallStatus>(status));
}

void tst_SagaStatus::recordStatusStrings()
{
    const QStringList names{QStringLiteral("PENDING"),      QStringLiteral("PROCESSING"),
                            QStringLiteral("COMPLETED"),    QStringLiteral("FAILED"),
                            QStringLiteral("COMPENSATING"), QStringLiteral("COMPENSATED")};
    for (int i = 0; i < names.size(); ++i) {
        QCOMPARE(toString(OrderRecordStatus(i)), names[i]);
        QCOMPARE(orderRecordStatusFromString(names[i]), std::optional<OrderRecordStatus>(OrderRecordStatus(i)));
    }
}

void tst_SagaStatus::unknownStrings_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("empty") << QString();
    QTest::newRow("lower case") << "completed";
    QTest::newRow("padded") << " COMPLETED";
    QTest::newRow("other") << "DONE";
    QTest::newRow("record only") << "PROCESSING";
}

void tst_SagaStatus::unknownStrings()
{
    QFETCH(QString, text);
    QVERIFY(!overallStatusFromString(text));
    QVERIFY(!stepFromName(text));
    QVERIFY(!eventTypeFromString(text));
    if (text != QLatin1String("PROCESSING"))
        QVERIFY(!orderRecordStatusFromString(text));
    QVERIFY(!stepStatusFromString(text));
}

void tst_SagaStatus::stepNames()
{
    QCOMPARE(stepDisplayName(SagaStep::Inventory), QStringLiteral("Inventory Reservation"));
    QCOMPARE(stepDisplayName(SagaStep::Payment), QStringLiteral("Payment Processing"));
    QCOMPARE(stepDisplayName(SagaStep::Shipping), QStringLiteral("Shipping Arrangement"));
    for (SagaStep s : kAllSteps) {
        QCOMPARE(stepFromName(stepDisplayName(s)), std::optional<SagaStep>(s));
        QCOMPARE(stepOrder(s), int(s) + 1);
    }
    QVERIFY(!stepFromName(u"inventory reservation"));
}

void tst_SagaStatus::eventTypeStrings()
{
    const QStringList names{QStringLiteral("SAGA_STARTED"),         QStringLiteral("STEP_STARTED"),
                            QStringLiteral("STEP_COMPLETED"),       QStringLiteral("STEP_FAILED"),
                            QStringLiteral("COMPENSATION_STARTED"), QStringLiteral("STEP_COMPENSATED"),
                            QStringLiteral("SAGA_COMPLETED"),       QStringLiteral("SAGA_FAILED")};
    QCOMPARE(names.size(), kEventTypeCount);
    for (int i = 0; i < kEventTypeCount; ++i) {
        QCOMPARE(toString(EventType(i)), names[i]);
        QCOMPARE(eventTypeFromString(names[i]), std::optional<EventType>(EventType(i)));
    }
}

void tst_SagaStatus::terminal()
{
    QVERIFY(!isTerminal(OverallStatus::Queued));
    QVERIFY(!isTerminal(OverallStatus::InProgress));
    QVERIFY(!isTerminal(OverallStatus::RollingBack));
    QVERIFY(isTerminal(OverallStatus::Completed));
    QVERIFY(isTerminal(OverallStatus::Failed));
    QVERIFY(isTerminal(OverallStatus::RolledBack));
    QVERIFY(!isTerminal(StepStatus::Pending));
    QVERIFY(!isTerminal(StepStatus::InProgress));
    QVERIFY(!isTerminal(StepStatus::Compensating));
    QVERIFY(isTerminal(StepStatus::Completed));
    QVERIFY(isTerminal(StepStatus::Failed));
    QVERIFY(isTerminal(StepStatus::Compensated));
    QVERIFY(isTerminal(StepStatus::Skipped));
}

void tst_SagaStatus::recordStatusFor_data()
{
    QTest::addColumn<OverallStatus>("overall");
    QTest::addColumn<QString>("record");
    QTest::newRow("queued") << OverallStatus::Queued << "PENDING";
    QTest::newRow("in progress") << OverallStatus::InProgress << "PROCESSING";
    QTest::newRow("completed") << OverallStatus::Completed << "COMPLETED";
    QTest::newRow("failed") << OverallStatus::Failed << "FAILED";
    QTest::newRow("rolling back") << OverallStatus::RollingBack << "COMPENSATING";
    QTest::newRow("rolled back") << OverallStatus::RolledBack << "COMPENSATED";
}

void tst_SagaStatus::recordStatusFor()
{
    QFETCH(OverallStatus, overall);
    QFETCH(QString, record);
    QCOMPARE(toString(::recordStatusFor(overall)), record);
}

QTEST_APPLESS_MAIN(tst_SagaStatus)
#include "tst_sagastatus.moc"
