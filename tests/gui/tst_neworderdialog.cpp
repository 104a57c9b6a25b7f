// The New Order dialog places only orders saga-server would accept (its rules,
// field by field, with a message naming the field), its Alt shortcuts reach
// their fields, and its read-only message is shown whole.

#include "demotraffic.h"
#include "neworderdialog.h"
#include "orderpresets.h"

#include <QApplication>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTest>

namespace {
// The dialog's child of type W (a line edit, label or button) that shows `text`.
template<typename W>
W *childShowing(const QWidget &dialog, const QString &text)
{
    const auto children = dialog.findChildren<W *>();
    for (W *child : children) {
        if (child->text() == text)
            return child;
    }
    return nullptr;
}

// The line edit that shows `text` (the fields hold the Happy path preset).
QLineEdit *editShowing(const QWidget &dialog, const QString &text)
{
    return childShowing<QLineEdit>(dialog, text);
}

// The text of one field of `r` ("customerId", "productId", "street", ...).
QString fieldText(const OrderRequest &r, const QString &field)
{
    const ShippingAddress &a = r.shippingAddress;
    const QHash<QString, QString> fields{
        {QStringLiteral("customerId"), r.customerId.toString(QUuid::WithoutBraces)},
        {QStringLiteral("productId"), r.items.value(0).productId},
        {QStringLiteral("paymentMethodId"), r.paymentMethodId},
        {QStringLiteral("street"), a.street},
        {QStringLiteral("city"), a.city},
        {QStringLiteral("state"), a.state},
        {QStringLiteral("postalCode"), a.postalCode},
        {QStringLiteral("country"), a.country},
    };
    return fields.value(field);
}

QPushButton *placeButton(const QWidget &dialog)
{
    return childShowing<QPushButton>(dialog, QStringLiteral("&Place order"));
}

QLabel *labelShowing(const QWidget &dialog, const QString &text)
{
    return childShowing<QLabel>(dialog, text);
}

QString resultText(const QWidget &dialog)
{
    const auto *result = dialog.findChild<QLabel *>(QStringLiteral("result"));
    return result ? result->text() : QStringLiteral("(no result label)");
}
} // namespace

class tst_NewOrderDialog : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void invalidFieldsAreRefusedByName_data();
    void invalidFieldsAreRefusedByName();
    void emptyCustomerMeansANewRandomCustomer();
    void shortcutLabelsHaveBuddies();
    void readOnlyMessageIsShownWhole();
};

void tst_NewOrderDialog::invalidFieldsAreRefusedByName_data()
{
    QTest::addColumn<QString>("field"); // a key of fieldText()
    QTest::addColumn<QString>("badText");
    QTest::addColumn<QString>("fieldName"); // the message starts with it
    QTest::newRow("customer id not a UUID") << "customerId" << "not-a-uuid" << "Customer id";
    QTest::newRow("empty product id") << "productId" << "" << "Product id";
    QTest::newRow("blank product id") << "productId" << "   " << "Product id";
    QTest::newRow("empty payment method") << "paymentMethodId" << "" << "Payment method";
    QTest::newRow("empty street") << "street" << "" << "Street";
    QTest::newRow("empty city") << "city" << "" << "City";
    QTest::newRow("empty state") << "state" << "" << "State";
    QTest::newRow("empty postal code") << "postalCode" << "" << "Postal code";
    QTest::newRow("postal code over 32") << "postalCode" << QString(33, QLatin1Char('9')) << "Postal code";
    QTest::newRow("empty country") << "country" << "" << "Country";
}

void tst_NewOrderDialog::invalidFieldsAreRefusedByName()
{
    QFETCH(QString, field);
    QFETCH(QString, badText);
    QFETCH(QString, fieldName);
    DemoTraffic demo;
    NewOrderDialog dialog(&demo);
    dialog.setPlacingEnabled(true);
    QSignalSpy placed(&dialog, &NewOrderDialog::placeRequested);
    QVERIFY(placed.isValid());
    QPushButton *place = placeButton(dialog);
    QVERIFY(place);
    QVERIFY(place->isEnabled());
    const QString presetText = fieldText(dialog.request(), field);
    QLineEdit *edit = editShowing(dialog, presetText);
    QVERIFY2(edit, qPrintable(presetText));

    edit->setText(badText);
    QTest::mouseClick(place, Qt::LeftButton); // a disabled button ignores it
    QCOMPARE(placed.count(), 0);
    QVERIFY(!place->isEnabled());
    QVERIFY2(resultText(dialog).startsWith(fieldName), qPrintable(resultText(dialog)));

    edit->setText(presetText); // corrected: placed, with what the fields say
    QVERIFY(place->isEnabled());
    QVERIFY2(!resultText(dialog).contains(fieldName), qPrintable(resultText(dialog)));
    QTest::mouseClick(place, Qt::LeftButton);
    QCOMPARE(placed.count(), 1);
    QCOMPARE(fieldText(placed.at(0).at(0).value<OrderRequest>(), field), presetText);
}

void tst_NewOrderDialog::emptyCustomerMeansANewRandomCustomer()
{
    DemoTraffic demo;
    NewOrderDialog dialog(&demo);
    dialog.setPlacingEnabled(true);
    QLineEdit *customer = editShowing(dialog, fieldText(dialog.request(), QStringLiteral("customerId")));
    QVERIFY(customer);
    const QUuid chosen = QUuid::createUuid();
    customer->setText(chosen.toString(QUuid::WithoutBraces));
    QCOMPARE(dialog.request().customerId, chosen);

    customer->setText(QString());
    QVERIFY2(customer->placeholderText().contains(QLatin1String("random")), qPrintable(customer->placeholderText()));
    QVERIFY(placeButton(dialog)->isEnabled());
    QVERIFY(!dialog.request().customerId.isNull());

    customer->setText(QStringLiteral("not-a-uuid")); // never replaced by a random one
    QVERIFY(dialog.request().customerId.isNull());
    QVERIFY(!placeButton(dialog)->isEnabled());
}

// A label that shows an Alt shortcut has a buddy to take the focus; Alt+U and
// Alt+F reach the customer id and the failure mix.
void tst_NewOrderDialog::shortcutLabelsHaveBuddies()
{
    DemoTraffic demo;
    NewOrderDialog dialog(&demo);
    const auto labels = dialog.findChildren<QLabel *>();
    int mnemonics = 0;
    for (QLabel *label : labels) {
        const QString text = QString(label->text()).remove(QLatin1String("&&"));
        if (!text.contains(QLatin1Char('&')) || label->textFormat() == Qt::RichText)
            continue;
        ++mnemonics;
        QVERIFY2(label->buddy(), qPrintable(label->text() + QStringLiteral(" has no buddy")));
    }
    QVERIFY(mnemonics >= 4); // Preset, Customer id, Rate, Failures

    QLineEdit *customer = editShowing(dialog, fieldText(dialog.request(), QStringLiteral("customerId")));
    QVERIFY(customer);
    QCOMPARE(labelShowing(dialog, QStringLiteral("C&ustomer id:"))->buddy(), customer);
    QCOMPARE(labelShowing(dialog, QStringLiteral("&Failures:"))->buddy(),
             dialog.findChild<QSlider *>(QStringLiteral("failureMix")));

    dialog.show();
    QApplication::setActiveWindow(&dialog);
    QVERIFY(QTest::qWaitForWindowActive(&dialog));
    QTest::keyClick(&dialog, Qt::Key_U, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget *>(customer));
    QTest::keyClick(&dialog, Qt::Key_F, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(),
                 static_cast<QWidget *>(dialog.findChild<QSlider *>(QStringLiteral("failureMix"))));
}

// The main window's sentence for a read-only source wraps and gets the height it
// needs (it was squeezed into the Place button's row and cut at top and bottom).
void tst_NewOrderDialog::readOnlyMessageIsShownWhole()
{
    DemoTraffic demo;
    NewOrderDialog dialog(&demo);
    const QString why = QStringLiteral("This source is read-only: connect to the embedded engine or a "
                                       "saga-server to place orders.");
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    dialog.setPlacingEnabled(false, why);
    QLabel *label = labelShowing(dialog, why);
    QVERIFY(label);
    QTRY_VERIFY(label->isVisible());
    QApplication::processEvents();
    const int needed = label->heightForWidth(label->contentsRect().width()) + label->contentsMargins().top()
                       + label->contentsMargins().bottom();
    QVERIFY2(label->wordWrap(), "the message does not wrap");
    QVERIFY2(label->height() >= needed,
             qPrintable(QStringLiteral("%1 px high, needs %2 at %3 px wide")
                            .arg(label->height()).arg(needed).arg(label->width())));
    QVERIFY(dialog.rect().contains(label->geometry().translated(label->parentWidget()->mapTo(&dialog, QPoint()))));
    QVERIFY(!placeButton(dialog)->isEnabled());

    // Narrower and back: still whole.
    dialog.resize(dialog.minimumSizeHint().width(), dialog.height());
    QApplication::processEvents();
    QTRY_VERIFY2(label->height() >= label->heightForWidth(label->width()),
                 qPrintable(QStringLiteral("%1 px high, needs %2 at %3 px wide")
                                .arg(label->height()).arg(label->heightForWidth(label->width())).arg(label->width())));
}

QTEST_MAIN(tst_NewOrderDialog)
#include "tst_neworderdialog.moc"
