// timeOrderedUuid(): RFC 9562 version-7 layout (time, version, variant), ids
// increasing within a process even inside one millisecond and when the clock
// goes back, and unique across threads.

#include "timeorderedid.h"

#include <QtTest>

#include <algorithm>
#include <thread>

namespace {

int versionOf(const QUuid &id)
{
    return uchar(id.toRfc4122().at(6)) >> 4;
}

qint64 unixMsOf(const QUuid &id)
{
    const QByteArray b = id.toRfc4122();
    qint64 ms = 0;
    for (int i = 0; i < 6; ++i)
        ms = (ms << 8) | uchar(b.at(i));
    return ms;
}

} // namespace

class tst_TimeOrderedId : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    // First: the tests below move the generator's clock into the future.
    void nowIsTheClock()
    {
        const qint64 before = QDateTime::currentMSecsSinceEpoch();
        const QUuid id = timeOrderedUuid();
        const qint64 after = QDateTime::currentMSecsSinceEpoch();
        QVERIFY2(unixMsOf(id) >= before - 1 && unixMsOf(id) <= after + 1,
                 qPrintable(QString::number(unixMsOf(id) - before)));
    }

    void layout()
    {
        // Relative to the clock (a fixed date passes): later than any earlier call in this test.
        const qint64 ms = QDateTime::currentMSecsSinceEpoch() + 1000000;
        const QUuid id = timeOrderedUuid(ms);
        QCOMPARE(versionOf(id), 7);
        QCOMPARE(id.variant(), QUuid::DCE);
        QCOMPARE(unixMsOf(id), ms);
        QVERIFY(!id.isNull());
    }

    // 10,000 ids in the same millisecond: the sequence runs past 12 bits, so the
    // generator borrows the next milliseconds; every id is still larger than the last,
    // both as bytes and as the lower-case text the stores keep.
    void increasingWithinOneMillisecond()
    {
        const qint64 ms = QDateTime::currentMSecsSinceEpoch() + 2000000;
        QUuid previous = timeOrderedUuid(ms);
        for (int i = 0; i < 10000; ++i) {
            const QUuid id = timeOrderedUuid(ms);
            QVERIFY2(previous.toRfc4122() < id.toRfc4122(), qPrintable(id.toString()));
            QVERIFY(previous.toString(QUuid::WithoutBraces) < id.toString(QUuid::WithoutBraces));
            QCOMPARE(versionOf(id), 7);
            previous = id;
        }
        QVERIFY(unixMsOf(previous) > ms); // borrowed at least one millisecond
    }

    void clockGoingBackKeepsOrder()
    {
        const qint64 ms = QDateTime::currentMSecsSinceEpoch() + 3000000;
        const QUuid a = timeOrderedUuid(ms);
        const QUuid b = timeOrderedUuid(ms - 5000);
        QVERIFY(a.toRfc4122() < b.toRfc4122());
    }

    void uniqueAcrossThreads()
    {
        constexpr int perThread = 20000;
        std::vector<QUuid> ids[4];
        std::vector<std::thread> threads;
        for (auto &out : ids) {
            threads.emplace_back([&out] {
                out.reserve(perThread);
                for (int i = 0; i < perThread; ++i)
                    out.push_back(timeOrderedUuid());
            });
        }
        for (auto &t : threads)
            t.join();
        std::vector<QByteArray> all;
        for (const auto &out : ids) {
            for (int i = 1; i < int(out.size()); ++i)
                QVERIFY(out[i - 1].toRfc4122() < out[i].toRfc4122()); // increasing per thread too
            for (const QUuid &id : out)
                all.push_back(id.toRfc4122());
        }
        std::sort(all.begin(), all.end());
        QVERIFY(std::adjacent_find(all.begin(), all.end()) == all.end());
        QCOMPARE(int(all.size()), 4 * perThread);
    }
};

QTEST_GUILESS_MAIN(tst_TimeOrderedId)
#include "tst_timeorderedid.moc"
