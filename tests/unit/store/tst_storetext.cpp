// The store's hand-written encoders against the references they replace: the
// compact JSON of event details and step results against QJsonDocument's own
// writer, and the binary array of records against PostgreSQL's documented
// array_send/record_send layout (the PostgreSQL integration tests then store and
// read such arrays for real).

#include "pgbinary.h"
#include "storetext.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QtEndian>
#include <QtTest>

class tst_StoreText : public QObject
{
    Q_OBJECT
private slots:
    void jsonMatchesQtCompactWriter_data();
    void jsonMatchesQtCompactWriter();
    void eventDetailsPutErrorAmongTheKeys_data();
    void eventDetailsPutErrorAmongTheKeys();
    void emptyRecordArray();
    void recordArrayLayout();
};

static QByteArray qtCompact(const QJsonObject &o) { return QJsonDocument(o).toJson(QJsonDocument::Compact); }

void tst_StoreText::jsonMatchesQtCompactWriter_data()
{
    QTest::addColumn<QJsonObject>("object");
    QTest::newRow("empty") << QJsonObject();
    QTest::newRow("step result") << QJsonObject{{"reservationId", "RES-1a2b"}, {"trackingNumber", "1Z999"},
                                                {"estimatedDelivery", "2026-12-01"}};
    QTest::newRow("escapes") << QJsonObject{{"q", "say \"hi\""}, {"b", "back\\slash"},
                                            {"c", QString("\b\f\n\r\t") + QChar(1) + QChar(0x1f) + QChar(0x7f)}};
    QTest::newRow("non-ASCII") << QJsonObject{{"city", "Zürich"}, {"mark", "✓ done"}, {"emoji", "😀 x 😀"},
                                              {"mixed", "a\"ü\nö"}, {"schlüssel", 1}};
    QTest::newRow("numbers") << QJsonObject{{"zero", 0}, {"neg", -5}, {"cents", qint64(2100)},
                                            {"big", qint64(9007199254740993LL)}, {"max", std::numeric_limits<qint64>::max()},
                                            {"half", 1.5}, {"small", -0.25}, {"huge", 1e20}, {"tiny", 1e-7},
                                            {"integral", 3.0}};
    QTest::newRow("other") << QJsonObject{{"yes", true}, {"no", false}, {"nothing", QJsonValue::Null},
                                          {"list", QJsonArray{1, "two", QJsonArray{}, QJsonObject{{"k", "v"}}, false}},
                                          {"nested", QJsonObject{{"inner", QJsonObject{{"deep", "\"x\""}}}}}};
}

void tst_StoreText::jsonMatchesQtCompactWriter()
{
    QFETCH(QJsonObject, object);
    QByteArray ours = "prefix:";
    StoreText::appendJson(ours, object);
    QCOMPARE(ours, "prefix:" + qtCompact(object));
}

void tst_StoreText::eventDetailsPutErrorAmongTheKeys_data()
{
    QTest::addColumn<QJsonObject>("details");
    QTest::newRow("no details") << QJsonObject();
    QTest::newRow("keys before and after") << QJsonObject{{"attempt", 2}, {"phase", "FORWARD"}, {"retryable", true}};
    QTest::newRow("keys after only") << QJsonObject{{"phase", "COMPENSATION"}};
    QTest::newRow("keys before only") << QJsonObject{{"attempt", 1}, {"compensationIncomplete", true}};
    QTest::newRow("details carry an error") << QJsonObject{{"error", "stale"}, {"phase", "FORWARD"}};
}

void tst_StoreText::eventDetailsPutErrorAmongTheKeys()
{
    QFETCH(QJsonObject, details);
    OrderEvent e;
    e.details = details;
    QCOMPARE(StoreText::eventDetailsJson(e), qtCompact(details)); // no error: the details as they are

    e.error = ErrorInfo{"PAYMENT_DECLINED", "Card \"4000\" declined — ünïcode"};
    QJsonObject expected = details;
    expected.insert("error", QJsonObject{{"code", e.error.code}, {"message", e.error.message}});
    QCOMPARE(StoreText::eventDetailsJson(e), qtCompact(expected));

    OrderEvent back;
    StoreText::setEventDetails(back, StoreText::eventDetailsJson(e));
    QCOMPARE(back.error.code, e.error.code);
    QCOMPARE(back.error.message, e.error.message);
}

static QByteArray be32(quint32 v)
{
    QByteArray b(4, 0);
    qToBigEndian(v, b.data());
    return b;
}

void tst_StoreText::emptyRecordArray()
{
    PgBinary::RecordArray a(16401, 3);
    QCOMPARE(a.rows(), 0);
    // No dimensions: ndim 0, no NULLs, the element type.
    QCOMPARE(a.finish(), be32(0) + be32(0) + be32(16401));
}

void tst_StoreText::recordArrayLayout()
{
    PgBinary::RecordArray a(16401, 5);
    a.row().text("ab").int8(qint64(-2)).int8(std::nullopt).boolean(true).text(QString());
    a.row().text("ü").int8(qint64(1) << 40).int8(std::optional<qint64>(7)).boolean(false).json("{}");
    QCOMPARE(a.rows(), 2);

    auto field = [](quint32 type, const QByteArray &bytes) { return be32(type) + be32(quint32(bytes.size())) + bytes; };
    auto null = [](quint32 type) { return be32(type) + be32(0xffffffffu); };
    QByteArray int8m2(8, char(0xff));
    int8m2[7] = char(0xfe);
    const QByteArray first = be32(5) + field(25, "ab") + field(20, int8m2) + null(20) + field(16, QByteArray(1, 1)) + null(25);
    QByteArray big(8, 0);
    big[2] = 1; // 2^40
    QByteArray seven(8, 0);
    seven[7] = 7;
    const QByteArray second = be32(5) + field(25, "\xc3\xbc") + field(20, big) + field(20, seven) + field(16, QByteArray(1, 0))
        + field(114, "{}");
    // ndim 1, no NULL elements, element type, 2 elements from index 1; each element: its length, then the record.
    const QByteArray expected = be32(1) + be32(0) + be32(16401) + be32(2) + be32(1) + be32(quint32(first.size())) + first
        + be32(quint32(second.size())) + second;
    QCOMPARE(a.finish(), expected);
}

QTEST_GUILESS_MAIN(tst_StoreText)
#include "tst_storetext.moc"
