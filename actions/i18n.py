"""The shopper's language (the ``language`` slot: en / zh) and the words an action computes itself.

Whole replies live in the domain (``utter_*`` responses with a zh variation chosen by the ``language`` slot);
an action only fills their placeholders. What it fills in is computed per language here: dates, order and refund
states, the names of our systems, and the pieces of replies that are built per item (recommendation lines,
product details, order status summaries).
"""

from __future__ import annotations

from datetime import datetime

from rasa_sdk import Tracker

from actions.constants import SLOT_LANGUAGE

EN = "en"
ZH = "zh"

_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

# Order, refund and return states as the backends name them.
_STATES_ZH = {
    "placed": "已下单",
    "paid": "已付款",
    "shipped": "已发货",
    "delivered": "已签收",
    "returned": "已退货",
    "cancelled": "已取消",
    "pending": "待处理",
    "processing": "处理中",
    "completed": "已完成",
    "requested": "已申请",
    "received": "已收到",
    "refunded": "已退款",
}

_METHODS_ZH = {"original payment method": "原支付账户", "card": "银行卡", "store credit": "店铺余额"}

_SYSTEMS_ZH = {"order system": "订单系统", "product recommendations": "商品推荐服务", "product catalog": "商品库"}

# Catalog categories (backends/catalog.py) and the NLU's category values (data/nlu.yml).
_CATEGORIES_ZH = {
    "phone": "手机", "phones": "手机", "smartphone": "手机",
    "phone case": "手机壳", "phone cases": "手机壳",
    "screen protector": "钢化膜",
    "charger": "充电器", "chargers": "充电器",
    "power bank": "充电宝", "power banks": "充电宝",
    "earbuds": "无线耳机",
    "headphones": "头戴式耳机",
    "laptop": "笔记本电脑", "laptops": "笔记本电脑",
    "laptop sleeve": "电脑内胆包",
    "mouse": "鼠标",
    "usb-c hub": "USB-C 扩展坞",
    "tablets": "平板电脑",
    "running shoes": "跑鞋", "sneakers": "运动鞋",
    "running socks": "跑步袜", "socks": "袜子",
    "sports watch": "运动手表", "sports watches": "运动手表",
    "smartwatch": "智能手表", "smartwatches": "智能手表",
    "running belt": "跑步腰包",
    "camera": "相机",
    "accessories": "配件", "accessory": "配件",
    "memory card": "存储卡",
    "tripod": "三脚架",
    "camera bag": "相机包",
    "t-shirts": "T恤",
    "jackets": "夹克", "jacket": "夹克",
    "hoodies": "卫衣", "hoodie": "卫衣",
    "backpacks": "双肩包", "backpack": "双肩包",
    "yoga mats": "瑜伽垫",
    "water bottles": "水杯",
}

_COLORS_ZH = {
    "black": "黑色", "white": "白色", "blue": "蓝色", "green": "绿色", "red": "红色", "silver": "银色",
    "grey": "灰色", "gray": "灰色", "pink": "粉色", "purple": "紫色", "yellow": "黄色",
}

# Tracking events by their code (the backend's descriptions are English).
_TRACKING_ZH = {
    "label_created": "已生成运单",
    "picked_up": "快递员已揽收",
    "in_transit": "已到达分拣中心",
    "delayed": "运输延误：包裹错过了中转班次，将随下一班车发出",
    "out_for_delivery": "正在派送",
    "delivered": "已签收",
}
_PLACES_ZH = {"Warehouse": "仓库", "Local depot": "本地配送站", "Front door": "家门口"}

# Fixed words of replies an action builds per item or per order.
PHRASES: dict[str, dict[str, str]] = {
    EN: {
        "unknown_date": "an unknown date",
        "list_separator": ", ",
        # recommendations (one line per pick, a button per pick)
        "reco_intro_for": "Here's what I'd suggest for \"{context}\":",
        "reco_intro": "Here are my picks for you:",
        "reco_line": "{n}. {pitch}",
        "reco_back_soon": " (back in stock soon)",
        "reco_button": "More about {title}",
        # product details (after the price and features of utter_product_info)
        "product_colors": " Colors: {colors}.",
        "product_sizes": " Sizes {first} to {last}.",
        "product_in_stock": " In stock and ready to ship.",
        "product_out_of_stock": " Currently out of stock.",
        # order status summaries (the order_status placeholder of utter_order_status)
        "status_placed": "received on {date}; we're waiting for the payment to be confirmed.",
        "status_paid": ("paid and being packed; it should ship within a day. You can still change the delivery "
                        "address or cancel it."),
        "status_shipped": "on its way with {carrier} (tracking number {tracking_number}: {tracking_url}).",
        "status_latest": " Latest update: {description} ({location}, {date}).",
        "status_late": " It was due on {date} and is running late. I'm sorry about that!",
        "status_eta": " Expected delivery: {date}.",
        "status_delivered": "delivered on {date}.",
        "status_returnable": " You can return it until {date}.",
        "status_returned": "returned",
        "status_returned_refund": "; your refund is {refund_status}.",
        "status_cancelled": "cancelled on {date}",
        "status_cancelled_refund": "; your refund of {amount} is {refund_status}.",
        "status_end": ".",
    },
    ZH: {
        "unknown_date": "日期待定",
        "list_separator": "、",
        "reco_intro_for": "按「{context}」为您挑了这几款：",
        "reco_intro": "为您挑了这几款：",
        "reco_line": "{n}. {pitch}",
        "reco_back_soon": "（即将补货）",
        "reco_button": "了解{title}",
        "product_colors": "颜色：{colors}。",
        "product_sizes": "尺码 {first} 至 {last}。",
        "product_in_stock": "有现货，可以马上发货。",
        "product_out_of_stock": "目前暂时缺货。",
        "status_placed": "{date}已下单，正在等待付款确认。",
        "status_paid": "已付款，正在打包，预计一天内发货。现在还可以修改收货地址或取消订单。",
        "status_shipped": "已发货，由 {carrier} 配送（运单号 {tracking_number}：{tracking_url}）。",
        "status_latest": "最新物流：{description}（{location}，{date}）。",
        "status_late": "原定{date}送达，目前有些延误，真的很抱歉！",
        "status_eta": "预计{date}送达。",
        "status_delivered": "已于{date}签收。",
        "status_returnable": "{date}前都可以申请退货。",
        "status_returned": "已退货",
        "status_returned_refund": "，退款{refund_status}。",
        "status_cancelled": "已于{date}取消",
        "status_cancelled_refund": "，退款 {amount} {refund_status}。",
        "status_end": "。",
    },
}


def language(tracker: Tracker) -> str:
    """``zh`` when the shopper writes Chinese (the ``language`` slot), else ``en``."""
    return ZH if tracker.get_slot(SLOT_LANGUAGE) == ZH else EN


def phrase(lang: str, key: str, **values: object) -> str:
    """The fixed words ``key`` in ``lang`` (English when unknown), with ``values`` filled in."""
    template = PHRASES.get(lang, PHRASES[EN]).get(key) or PHRASES[EN][key]
    return template.format(**values) if values else template


def day(iso: str | None, lang: str = EN) -> str:
    """"2026-11-27T20:15:41Z" -> "Fri 27 Nov" (en) or "11月27日（周五）" (zh)."""
    if not iso:
        return phrase(lang, "unknown_date")
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if lang == ZH:
        return f"{moment.month}月{moment.day}日（{_WEEKDAYS_ZH[moment.weekday()]}）"
    return moment.strftime("%a %d %b").replace(" 0", " ")


def state(value: str, lang: str = EN) -> str:
    """An order / refund / return state ("shipped", "processing") in the shopper's words."""
    return _STATES_ZH.get(value, value) if lang == ZH else value


def method(value: str, lang: str = EN) -> str:
    """Where a refund goes ("original payment method")."""
    return _METHODS_ZH.get(value, value) if lang == ZH else value


def system(value: str, lang: str = EN) -> str:
    """One of our systems ("order system") as the backend-down reply names it."""
    return _SYSTEMS_ZH.get(value, value) if lang == ZH else value


def category(value: str, lang: str = EN) -> str:
    return _CATEGORIES_ZH.get(value.lower(), value) if lang == ZH else value


def color(value: str, lang: str = EN) -> str:
    return _COLORS_ZH.get(value.lower(), value) if lang == ZH else value


def wish(value: str, lang: str = EN) -> str:
    """A word of what the shopper asked for (a category, color, brand or product), as shown back to them."""
    if lang != ZH:
        return value
    return _CATEGORIES_ZH.get(value.lower()) or _COLORS_ZH.get(value.lower()) or value


def tracking_event(event: dict, lang: str = EN) -> tuple[str, str]:
    """(description, location) of a tracking event."""
    description, location = str(event.get("description", "")), str(event.get("location", ""))
    if lang == ZH:
        return _TRACKING_ZH.get(str(event.get("code", "")), description), _PLACES_ZH.get(location, location)
    return description, location
